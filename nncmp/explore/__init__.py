"""Pictures of optimization: optimizers walking across 2-D functions (paths) and a real network's loss on
a plane through its tracked weights (landscape)."""

"""How runs train: the plan (which runs train together, on which engine, and why) → execute (here, or on
the backends: worker processes, Ray) → the engines (single, stacked, fast-sgd) → the recorder (one record
per run × epoch). Beside them: stepping (building an optimizer, its special handling), devices, signals,
and the probes that measure a run besides its records (layers, weights)."""

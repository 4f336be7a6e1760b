"""The engines that train runs: single (one run, the reference), stacked (several runs as one stacked
model) and fast_sgd (plain SGD at batch size 1 without autograd). Each trains epochs and evaluates;
the recorder makes the records."""

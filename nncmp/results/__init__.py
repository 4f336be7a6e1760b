"""What is kept: the results folder (store: atomic writes, the lock), what its files are called and hold
(schema: names, columns, older folders), and the statistics over its runs (stats: summaries, intervals,
pairing, time to target; no file I/O)."""

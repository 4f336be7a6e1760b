"""Speed: the matmul ceiling, the course-style reference loop, single runs and grids on every engine, and
the ratios between them, measured within one run."""

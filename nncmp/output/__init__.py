"""What is shown: terminal tables and lines, progress, figures (matplotlib, Agg), the one-file HTML report
and TensorBoard event files. Formats what it is given; computes no statistics of its own."""

"""What is shown: terminal tables and lines, progress, figures (matplotlib Figure objects, never pyplot), the
one-file HTML report and TensorBoard event files. Formats what it is given; computes no statistics of its own."""

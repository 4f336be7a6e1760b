"""What a run and a comparison are: frozen, validated dataclasses (RunSpec, Grid, CompareConfig). Every
option of a run is declared once, as a field with its help, its grid dimension and its id fragment;
the command line, config.json and the run ids are derived from those declarations. Names and numbers
only: no torch, no files."""

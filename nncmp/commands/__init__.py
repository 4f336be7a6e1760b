"""The work of each command: a request (or config) object in, a result object out. Each raises nncmp's
own exceptions (errors.NncmpError) and never exits the process; it prints only through the Reporter it is
given. The command line (cli/) and the Python API are two thin faces of these functions."""

"""The `tricks` command line: a thin layer over library functions, one module per command."""

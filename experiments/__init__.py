"""Experiments: one file per claim, each with its config(s) and a runner that prints a table."""

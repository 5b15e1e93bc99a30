"""Benchmarks that ship with the package (``compose bench NAME``)."""

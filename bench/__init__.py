"""Benchmarks that compare Loket against a baseline run in the same process tree."""

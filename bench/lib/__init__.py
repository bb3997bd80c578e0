"""Helpers of the benchmarks, kept out of bench/*.py so that `make bench` does not run them."""

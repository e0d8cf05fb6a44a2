"""Benchmarks run by `make bench`; not tests, so nothing here asserts on timings."""

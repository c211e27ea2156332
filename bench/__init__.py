"""Benchmarks: the real worker against the simulators, beside a naive polling baseline (see README)."""

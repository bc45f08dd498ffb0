"""Benchmarks: inference backends (`python -m bench.backends`) and HTTP load (`python -m bench.bench`)."""

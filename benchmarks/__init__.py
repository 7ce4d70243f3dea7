"""The benchmark suite: run each module from the repository root as ``python -m benchmarks.NAME``."""

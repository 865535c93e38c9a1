"""CohortLens benchmarks: ``python -m bench`` (see bench/RESULTS.md and ``python -m bench --help``)."""

from bench.common import Result, best_of, timed

__all__ = ["Result", "best_of", "timed"]

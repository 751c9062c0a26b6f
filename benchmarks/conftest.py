"""Benchmarks reuse the test fixtures (../shared through IMSE_BENCH_SHARED)."""

from tests.conftest import checkpoint_dir, sample_dir, shared_dir  # noqa: F401

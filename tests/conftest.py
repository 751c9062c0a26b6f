"""Shared fixtures: the location of ../shared, which CI points at through IMSE_BENCH_SHARED."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_VARIABLE = "IMSE_BENCH_SHARED"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared test data (checkpoints, VoiceBank+DEMAND sample, parity outputs).

    Tests that need it skip, saying why, when the variable is unset or points nowhere.
    """
    value = os.environ.get(SHARED_VARIABLE)
    if not value:
        pytest.skip(f"{SHARED_VARIABLE} is not set; .ci/run sets it to ../shared")
    path = Path(value).resolve()  # absolute: the benchmarks hand paths to the official code, run from /tmp
    if not path.is_dir():
        pytest.skip(f"{SHARED_VARIABLE}={value} is not a directory")
    return path


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: bit-exact comparisons need a fixed count, and 2 threads on a busy machine crawl."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def checkpoint_dir(shared_dir: Path) -> Path:
    """The authors' checkpoints in ../shared, laid out as the bundle cache expects."""
    return shared_dir / "checkpoints"


@pytest.fixture(scope="session")
def sample_dir(shared_dir: Path) -> Path:
    """12 real VoiceBank+DEMAND test pairs: clean/ and noisy/."""
    return shared_dir / "vbdmd-sample"


@pytest.fixture(scope="session")
def enhanced_sample(checkpoint_dir: Path, sample_dir: Path, tmp_path_factory) -> callable:
    """Enhance the 12 sample files once per bundle per session; returns bundle -> directory."""
    from imse.enhance import enhance_files, find_inputs
    from imse.loading import load_model

    done: dict[str, Path] = {}

    def enhanced(bundle: str) -> Path:
        if bundle not in done:
            loaded = load_model(bundle, cache_dir=checkpoint_dir)
            output = tmp_path_factory.mktemp(bundle)
            report = enhance_files(find_inputs([sample_dir / "noisy"]), loaded.model, output, progress=False)
            assert not report.failures
            done[bundle] = output
        return done[bundle]

    return enhanced

"""The discriminator's targets: wideband PESQ of each (clean, enhanced) crop, computed in parallel.

PESQ runs in a pool of worker processes (the `pesq` package holds the GIL, so threads would
not help). A crop whose PESQ fails (silent reference, too short, NaN output) makes the whole
batch's target None, so the caller drops that loss term, as upstream does. Unlike upstream,
every failure is counted by kind and reported, never folded in as -1.

This module imports neither torch nor the models, so that spawned workers start quickly.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bench.metrics.pesq_stoi import MetricFailure, wideband_pesq
from bench.workers import die_with_parent


def pesq_or_failure(clean: np.ndarray, enhanced: np.ndarray) -> float | str:
    """Wideband PESQ, or the failure's kind (a string) if PESQ cannot be computed."""
    try:
        return wideband_pesq(np.asarray(clean, dtype=np.float64), np.asarray(enhanced, dtype=np.float64))
    except MetricFailure as failure:
        return failure.kind


def normalised_pesq(score: float) -> float:
    """Map MOS-LQO (1 to 4.5) onto the discriminator's (0, 1) scale: (PESQ - 1) / 3.5."""
    return (score - 1.0) / 3.5


@dataclass
class BatchTargets:
    """One batch's normalised targets (None if any crop failed) and the failure kinds."""

    targets: np.ndarray | None
    scores: list[float]
    failures: list[str]


@dataclass
class PesqTargets:
    """Computes batch targets in `workers` processes (0: in this process) and counts failures."""

    workers: int = 2
    failure_counts: Counter = field(default_factory=Counter)
    batches: int = 0
    dropped_batches: int = 0
    _pool: concurrent.futures.ProcessPoolExecutor | None = field(default=None, repr=False)

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn: never fork a process whose torch/OpenMP threads are running
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=die_with_parent
            )
        return self._pool

    def submit(self, clean: np.ndarray, enhanced: np.ndarray) -> PendingTargets:
        """Start scoring [batch, samples] crops; `.result()` on the answer waits for the targets."""
        if self.workers <= 0:
            # computed when the result is asked for, so that timings show it as PESQ time
            return PendingTargets(self, [], list(zip(clean, enhanced, strict=True)))
        executor = self._executor()
        return PendingTargets(
            self,
            [
                executor.submit(pesq_or_failure, clean_crop, enhanced_crop)
                for clean_crop, enhanced_crop in zip(clean, enhanced, strict=True)
            ],
        )

    def __call__(self, clean: np.ndarray, enhanced: np.ndarray) -> BatchTargets:
        """Score [batch, samples] crops and wait for the targets."""
        return self.submit(clean, enhanced).result()

    def _collect(self, results: list[float | str]) -> BatchTargets:
        failures = [result for result in results if isinstance(result, str)]
        scores = [float("nan") if isinstance(result, str) else result for result in results]
        self.batches += 1
        self.failure_counts.update(failures)
        if failures:
            self.dropped_batches += 1
            return BatchTargets(None, scores, failures)
        return BatchTargets(np.array([normalised_pesq(score) for score in scores], dtype=np.float32), scores, [])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


@dataclass
class PendingTargets:
    """Targets being computed; `result()` waits for them and counts any failures once."""

    owner: PesqTargets
    futures: list[concurrent.futures.Future]
    inline: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    """Pairs to score in this process (with no worker pool)."""

    def result(self) -> BatchTargets:
        results = [future.result() for future in self.futures]
        results += [pesq_or_failure(clean, enhanced) for clean, enhanced in self.inline]
        return self.owner._collect(results)

"""The layout of `results/`: where measured tables, their summaries and provenance live.

    results/reported.csv                                   numbers from the literature
    results/complexity.csv                                 bench.complexity
    results/measured/<dataset>/<system>.<variant>.csv      bench.evaluate, one row per utterance
    results/measured/<dataset>/<system>.<variant>.summary.json
    results/measured/<dataset>/<system>.provenance.json    where the system's output came from
    results/significance.json                              paired tests between systems

A system is `noisy` (the unprocessed input), a bundle name (`imse-vb-3.399`: the authors'
weights, evaluated by us) or `trained-<model>` (our own training run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ORIGIN_INPUT = "input"
ORIGIN_UPSTREAM = "upstream checkpoint"
ORIGIN_TRAINED = "our training run"
ORIGINS = (ORIGIN_INPUT, ORIGIN_UPSTREAM, ORIGIN_TRAINED)
"""Where a scored system's audio came from, in the order the tables list them."""
SAMPLE_UTTERANCES = 12
"""How many VoiceBank+DEMAND test pairs the `vbdmd-sample` dataset (../shared/vbdmd-sample) holds."""


@dataclass(frozen=True)
class Measured:
    """One evaluated system on one dataset with one composite variant."""

    dataset: str
    system: str
    variant: str
    table: Path
    summary: dict
    provenance: dict

    @property
    def origin(self) -> str:
        """One of ORIGINS, from the provenance file ("unknown" without one)."""
        return self.provenance.get("origin", "unknown")

    def mean(self, metric: str) -> float | None:
        """The summary's mean of `metric`; None where it is absent or undefined."""
        value = self.summary["metrics"].get(metric, {}).get("mean")
        return None if value is None else float(value)


def measured_table(results: Path, dataset: str, system: str, variant: str) -> Path:
    """results/measured/<dataset>/<system>.<variant>.csv"""
    return results / "measured" / dataset / f"{system}.{variant}.csv"


def provenance_path(results: Path, dataset: str, system: str) -> Path:
    """results/measured/<dataset>/<system>.provenance.json"""
    return results / "measured" / dataset / f"{system}.provenance.json"


def load_measured(results: Path) -> list[Measured]:
    """Every evaluated system under results/measured, with its summary and provenance."""
    found = []
    for summary_file in sorted((results / "measured").glob("*/*.summary.json")):
        dataset = summary_file.parent.name
        system, variant = summary_file.name.removesuffix(".summary.json").rsplit(".", 1)
        provenance_file = provenance_path(results, dataset, system)
        provenance = json.loads(provenance_file.read_text()) if provenance_file.exists() else {}
        found.append(
            Measured(dataset, system, variant, summary_file.with_name(f"{system}.{variant}.csv"),
                     json.loads(summary_file.read_text()), provenance)
        )
    return found

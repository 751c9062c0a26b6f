"""Validation: enhance each held-out utterance as inference does, then score it with the metric suite.

A measure that fails for an utterance (PESQ of a silent output, say) is counted with its
reason and left out of the mean, never averaged in as a number.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

from bench.metrics import METRICS, score_pair
from bench.train.data import TrainingUtterance
from bench.train.pesq_targets import pesq_or_failure
from imse.enhance import EnhancementError, enhance
from imse.unet import SpeechEnhancementNet


class NetworkOnDevice(torch.nn.Module):
    """The network on its device behind a CPU interface, so `imse.enhance` (STFT on CPU) can drive it."""

    def __init__(self, model: SpeechEnhancementNet) -> None:
        super().__init__()
        self.model = model
        self.config = model.config
        self.device = next(model.parameters()).device

    def forward(self, magnitude: torch.Tensor, phase: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(magnitude.to(self.device), phase.to(self.device))
        return tuple(output.cpu() for output in outputs)


@dataclass
class ValidationResult:
    """Means over the utterances each measure could score, and the failures by kind."""

    means: dict[str, float]
    utterances: int
    failures: Counter = field(default_factory=Counter)

    @property
    def pesq(self) -> float:
        return self.means["pesq"]


def _mean(values: list[float]) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return float(np.mean(finite)) if finite else float("nan")


def validate(model: SpeechEnhancementNet, pairs: list[TrainingUtterance], measures: str = "pesq") -> ValidationResult:
    """Enhance each pair's noisy signal (segmented, as `imse.enhance`) and score it against the clean one."""
    was_training = model.training
    model.eval()
    network = model if next(model.parameters()).device.type == "cpu" else NetworkOnDevice(model)
    names = ("pesq",) if measures == "pesq" else METRICS
    scores: dict[str, list[float]] = {name: [] for name in names}
    failures: Counter = Counter()
    try:
        for pair in pairs:
            try:
                enhanced = enhance(pair.noisy, network)
            except EnhancementError as error:
                failures[f"enhance: {error}"] += 1
                continue
            clean = np.asarray(pair.clean, dtype=np.float64)
            if measures == "pesq":
                result = pesq_or_failure(clean, enhanced)
                if isinstance(result, str):
                    failures[result] += 1
                    continue
                scores["pesq"].append(result)
            else:
                row = score_pair(clean, enhanced)
                failures.update(row["failure_kinds"])
                for name in names:
                    scores[name].append(row[name])
    finally:
        model.train(was_training)
    return ValidationResult({name: _mean(values) for name, values in scores.items()}, len(pairs), failures)

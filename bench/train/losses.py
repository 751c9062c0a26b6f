"""The generator's loss terms (MP-SENet's recipe, as IMSE and MUSE use it) and the discriminator's.

Phase is compared with the anti-wrapping function |x - 2 pi round(x / 2 pi)| on three
views: the instantaneous phase (IP), the group delay (GD: first difference along
frequency) and the instantaneous angular frequency (IAF: first difference along time).
Upstream takes each difference as a product with the matrix triu(1) - triu(2) - eye, whose
first column is -phi[0]; `first_difference` is the same thing without the matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.train.config import LossWeights


def anti_wrapping(x: torch.Tensor) -> torch.Tensor:
    """|x - 2 pi round(x / 2 pi)|: the distance of a phase difference to the nearest multiple of 2 pi."""
    return torch.abs(x - torch.round(x / (2 * math.pi)) * (2 * math.pi))


def first_difference(phase: torch.Tensor, dim: int) -> torch.Tensor:
    """phi[k-1] - phi[k] along `dim`, with -phi[0] at k = 0 (upstream's matrix product)."""
    return -torch.diff(phase, dim=dim, prepend=torch.zeros_like(phase.narrow(dim, 0, 1)))


def phase_losses(clean_phase: torch.Tensor, enhanced_phase: torch.Tensor) -> dict[str, torch.Tensor]:
    """Instantaneous phase, group delay and instantaneous angular frequency losses of [batch, F, T] phases."""
    frequency, time = 1, 2
    return {
        "instantaneous_phase": anti_wrapping(clean_phase - enhanced_phase).mean(),
        "group_delay": anti_wrapping(
            first_difference(clean_phase, frequency) - first_difference(enhanced_phase, frequency)
        ).mean(),
        "instantaneous_frequency": anti_wrapping(
            first_difference(clean_phase, time) - first_difference(enhanced_phase, time)
        ).mean(),
    }


@dataclass(frozen=True)
class Spectrum:
    """A batch's compressed magnitude and phase [batch, F, T] and complex spectrum [batch, F, T, 2]."""

    magnitude: torch.Tensor
    phase: torch.Tensor
    complex: torch.Tensor


@dataclass
class GeneratorLoss:
    """The weighted total and each term, for the backward pass and the log."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


def generator_loss(
    weights: LossWeights, metric_score: torch.Tensor, clean: Spectrum, enhanced: Spectrum
) -> GeneratorLoss:
    """0.05 MSE(D(clean, enhanced), 1) + 0.9 MSE(magnitude) + 0.3 (IP + GD + IAF) + 0.1 * 2 MSE(complex)."""
    metric = F.mse_loss(metric_score.flatten(), torch.ones_like(metric_score.flatten()))
    magnitude = F.mse_loss(enhanced.magnitude, clean.magnitude)
    phases = phase_losses(clean.phase, enhanced.phase)
    phase = phases["instantaneous_phase"] + phases["group_delay"] + phases["instantaneous_frequency"]
    complex_spectrum = F.mse_loss(enhanced.complex, clean.complex)
    total = (
        weights.metric * metric
        + weights.magnitude * magnitude
        + weights.phase * phase
        + weights.complex * complex_spectrum
    )
    terms = {"metric": metric, "magnitude": magnitude, **phases, "phase": phase, "complex": complex_spectrum}
    return GeneratorLoss(total, terms)


def discriminator_loss(
    clean_score: torch.Tensor, enhanced_score: torch.Tensor, pesq_targets: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """MSE(D(clean, clean), 1) + MSE(D(clean, enhanced), (PESQ - 1) / 3.5).

    With no targets (a PESQ of the batch failed) the second term is dropped, as upstream
    does; the caller counts that.
    """
    real = F.mse_loss(clean_score.flatten(), torch.ones_like(clean_score.flatten()))
    if pesq_targets is None:
        fake = torch.zeros((), dtype=real.dtype, device=real.device)
    else:
        fake = F.mse_loss(enhanced_score.flatten(), pesq_targets.to(enhanced_score))
    return {"total": real + fake, "real": real, "enhanced": fake}

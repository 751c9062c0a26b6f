"""The training recipe's parts: config presets, loss terms, the discriminator, PESQ targets, batches."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bench.train.batches import CropBatches
from bench.train.config import ConfigError, TrainConfig, config_differences, profile_config
from bench.train.discriminator import MetricDiscriminator
from bench.train.losses import (
    Spectrum,
    anti_wrapping,
    discriminator_loss,
    first_difference,
    generator_loss,
    phase_losses,
)
from bench.train.pesq_targets import PesqTargets
from tests.dummies.audio import noisy_version, speech_like
from tests.dummies.training import synthetic_utterances


def upstream_difference_matrix(size: int) -> torch.Tensor:
    """triu(1) - triu(2) - eye, the matrix upstream multiplies phases by."""
    ones = torch.ones(size, size)
    return torch.triu(ones, diagonal=1) - torch.triu(ones, diagonal=2) - torch.eye(size)


def test_first_difference_equals_upstream_matrix_product():
    generator = torch.Generator().manual_seed(0)
    phase = (torch.rand(2, 256, 40, generator=generator) * 2 - 1) * math.pi
    group_delay = torch.matmul(phase.permute(0, 2, 1), upstream_difference_matrix(256)).permute(0, 2, 1)
    frequency = torch.matmul(phase, upstream_difference_matrix(40))
    assert torch.equal(first_difference(phase, 1), group_delay)
    assert torch.equal(first_difference(phase, 2), frequency)
    assert torch.equal(first_difference(phase, 2)[..., 0], -phase[..., 0])


def test_anti_wrapping_is_distance_to_nearest_multiple_of_two_pi():
    values = torch.tensor([0.0, 0.5, -0.5, 2 * math.pi + 0.25, -4 * math.pi - 0.75, math.pi - 0.01])
    expected = torch.tensor([0.0, 0.5, 0.5, 0.25, 0.75, math.pi - 0.01])
    assert torch.allclose(anti_wrapping(values), expected, atol=1e-5)


def test_phase_losses_vanish_for_phases_that_differ_by_whole_turns():
    phase = torch.rand(1, 256, 8) * 2 * math.pi
    shifted = phase + 2 * math.pi * torch.randint(-2, 3, phase.shape)
    for value in phase_losses(phase, shifted).values():
        assert float(value) < 1e-5


def test_generator_loss_weights_the_terms_as_upstream():
    torch.manual_seed(0)
    shape = (2, 256, 8)
    clean_magnitude, magnitude = torch.rand(shape), torch.rand(shape)
    clean_phase, phase = torch.rand(shape) * 6 - 3, torch.rand(shape) * 6 - 3
    clean_complex, complex_spectrum = torch.rand(*shape, 2), torch.rand(*shape, 2)
    score = torch.rand(2, 1)
    loss = generator_loss(
        profile_config("paper", "imse").losses,
        score,
        Spectrum(clean_magnitude, clean_phase, clean_complex),
        Spectrum(magnitude, phase, complex_spectrum),
    )
    mse = torch.nn.functional.mse_loss
    phases = phase_losses(clean_phase, phase)
    expected = (
        0.05 * mse(score.flatten(), torch.ones(2))
        + 0.9 * mse(clean_magnitude, magnitude)
        + 0.3 * sum(phases.values())
        + 0.1 * (mse(clean_complex, complex_spectrum) * 2)
    )
    assert torch.allclose(loss.total, expected, rtol=1e-6)


def test_discriminator_loss_drops_the_enhanced_term_without_targets():
    clean_score, enhanced_score = torch.tensor([[0.9], [0.8]]), torch.tensor([[0.3], [0.4]])
    full = discriminator_loss(clean_score, enhanced_score, torch.tensor([0.5, 0.5]))
    dropped = discriminator_loss(clean_score, enhanced_score, None)
    assert float(dropped["enhanced"]) == 0.0
    assert torch.allclose(dropped["total"], full["real"])
    assert torch.allclose(full["total"], full["real"] + full["enhanced"])


def test_discriminator_shape_and_range():
    torch.manual_seed(0)
    discriminator = MetricDiscriminator()
    score = discriminator(torch.rand(3, 256, 40), torch.rand(3, 256, 40))
    assert score.shape == (3, 1)
    assert bool(((score > 0) & (score < 1)).all())
    parameters = sum(parameter.numel() for parameter in discriminator.parameters())
    assert parameters == 181_650  # the count of upstream MetricDiscriminator(dim=16)


@pytest.mark.parametrize("workers", [0, 2])
def test_pesq_targets_count_failures_and_drop_the_batch(workers):
    clean = speech_like(1.0, seed=3).astype(np.float32)
    noisy = noisy_version(clean, 5.0).astype(np.float32)
    targets = PesqTargets(workers)
    try:
        good = targets(np.stack([clean, clean]), np.stack([noisy, clean]))
        assert good.targets is not None and good.failures == []
        assert good.targets[1] > good.targets[0]
        assert math.isclose(float(good.targets[0]), (good.scores[0] - 1) / 3.5, rel_tol=1e-6)
        bad = targets(np.stack([clean, np.zeros_like(clean)]), np.stack([noisy, noisy]))
    finally:
        targets.close()
    assert bad.targets is None
    assert bad.failures == ["pesq-no-utterances"]
    assert targets.batches == 2 and targets.dropped_batches == 1
    assert dict(targets.failure_counts) == {"pesq-no-utterances": 1}


def test_profiles_and_config_round_trip(tmp_path):
    paper = profile_config("paper", "imse", "vb16k")
    assert (paper.epochs, paper.batch_size, paper.segment_size) == (100, 2, 30_700)
    assert paper.optimiser.learning_rate == 5e-4 and paper.optimiser.betas == (0.8, 0.99)
    assert paper.optimiser.learning_rate_decay == 0.99
    assert profile_config("paper", "muse").epochs == 200
    smoke = profile_config("smoke", "imse")
    assert smoke.data == "vb-mini" and smoke.max_steps is not None
    assert (smoke.segment_size // 100 + 1) % 4 == 0
    path = smoke.save(tmp_path)
    assert json.loads(path.read_text())["profile"] == "smoke"
    assert TrainConfig.load(tmp_path) == smoke
    changed = profile_config("smoke", "imse", seed=7)
    assert config_differences(smoke, changed) == ["seed: 1234 -> 7"]


def test_segment_size_must_give_frames_divisible_by_four():
    with pytest.raises(ConfigError, match="multiple of 4"):
        profile_config("smoke", "imse", segment_size=16_000)


def test_crop_order_depends_only_on_seed_epoch_and_position():
    pairs = synthetic_utterances(6, "s01", 0)
    single = CropBatches(pairs, 4300, 4, seed=5)
    again = CropBatches(pairs, 4300, 4, seed=5)
    assert single.batches_per_epoch == 1
    clean, noisy = single.batch(1, 0)
    assert clean.shape == (4, 4300)
    assert torch.equal(clean, again.batch(1, 0)[0])
    assert not torch.equal(clean, single.batch(2, 0)[0])
    # two processes take alternate positions of the same global batch
    shares = [CropBatches(pairs, 4300, 4, seed=5, rank=rank, world_size=2).batch(1, 0)[1] for rank in (0, 1)]
    assert torch.equal(noisy[0::2], shares[0]) and torch.equal(noisy[1::2], shares[1])
    # RMS normalisation with the noisy factor, as upstream
    short = CropBatches(pairs, 30_700, 2, seed=5)
    _, padded_noisy = short.batch(0, 0)
    length = int(np.count_nonzero(padded_noisy[0].numpy()))
    assert math.isclose(float(padded_noisy[0, :length].pow(2).mean()), 1.0, rel_tol=1e-3)


def test_crops_are_stretches_of_the_normalised_utterance_or_it_zero_padded():
    """Each crop is a stretch of the utterance RMS-normalised by its noisy factor, or all of it zero-padded."""
    pairs = synthetic_utterances(4, "s01", 0)
    long_batches, short_batches = CropBatches(pairs, 4300, 2, seed=1), CropBatches(pairs, 40_000, 2, seed=1)
    for position, pair in enumerate(pairs):
        norm = np.sqrt(pair.noisy.size / np.sum(pair.noisy.astype(np.float64) ** 2))
        clean, noisy = long_batches.crop(pair, 0, position)
        assert clean.shape == noisy.shape == (4300,) and clean.dtype == torch.float32
        scaled = pair.noisy * norm
        heads = np.lib.stride_tricks.sliding_window_view(scaled[: scaled.size - 4300 + 32], 32)
        starts = np.flatnonzero(np.all(np.abs(heads - noisy[:32].numpy()) < 1e-4, axis=1))
        assert len(starts) == 1
        np.testing.assert_allclose(noisy.numpy(), scaled[starts[0] : starts[0] + 4300], rtol=1e-5)
        np.testing.assert_allclose(clean.numpy(), pair.clean[starts[0] : starts[0] + 4300] * norm, rtol=1e-5)
        clean, noisy = short_batches.crop(pair, 0, position)
        np.testing.assert_allclose(noisy[: pair.noisy.size].numpy(), scaled, rtol=1e-5)
        assert not torch.any(noisy[pair.noisy.size :]) and not torch.any(clean[pair.noisy.size :])


def test_validation_scores_the_suite_and_counts_failures_instead_of_averaging_them():
    from bench.train.validation import NetworkOnDevice, validate
    from imse.enhance import enhance
    from tests.dummies.models import tiny_model
    from tests.dummies.training import SyntheticUtterance

    model = tiny_model()
    good = synthetic_utterances(1, "s03", 200)[0]
    silent_reference = SyntheticUtterance("s03_900", "s03", np.zeros_like(good.clean), good.noisy)
    result = validate(model, [good, silent_reference], "all")
    assert result.utterances == 2
    # by kind: a silent reference has neither a PESQ nor an SI-SDR (score_pair computes both)
    assert dict(result.failures) == {"pesq-no-utterances": 1, "si-sdr-silent-reference": 1}
    assert all(np.isfinite(result.means[name]) for name in ("pesq", "csig", "cbak", "covl", "ssnr", "stoi"))
    only_good = validate(model, [good], "pesq")
    assert result.pesq == pytest.approx(only_good.pesq)
    # the device adapter drives the same network through imse.enhance
    assert np.array_equal(enhance(good.noisy, NetworkOnDevice(model)), enhance(good.noisy, model))

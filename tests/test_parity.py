"""IMSE and MUSE match the authors' code on their released weights (../shared/parity)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import soundfile
import torch

from imse.dsp import magnitude_phase_istft, magnitude_phase_stft
from imse.enhance import enhance
from imse.loading import load_model

SYSTEMS = {"imse": "imse-vb-3.399", "muse": "muse-vb"}


@pytest.fixture(scope="module", params=sorted(SYSTEMS))
def system(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def model(system, checkpoint_dir):
    return load_model(SYSTEMS[system], cache_dir=checkpoint_dir).model


@pytest.fixture(scope="module")
def segment(system, shared_dir):
    return dict(np.load(shared_dir / "parity" / f"{system}_segment_p232_005.npz"))


def relative_error(ours: torch.Tensor, theirs: np.ndarray) -> float:
    theirs = torch.from_numpy(theirs)
    return float((ours - theirs).abs().max() / theirs.abs().max())


def test_stft_equals_official(segment):
    magnitude, phase = magnitude_phase_stft(torch.from_numpy(segment["segment"]))
    assert relative_error(magnitude, segment["noisy_mag"]) < 1e-6
    assert relative_error(phase, segment["noisy_pha"]) < 1e-6


def test_segment_outputs_match_official(model, segment):
    with torch.inference_mode():
        magnitude, phase, complex_spectrum = model(
            torch.from_numpy(segment["noisy_mag"]), torch.from_numpy(segment["noisy_pha"])
        )
        waveform = magnitude_phase_istft(magnitude, phase)
    assert relative_error(magnitude, segment["out_mag"]) < 1e-4
    assert relative_error(complex_spectrum, segment["out_com"]) < 1e-4
    assert relative_error(waveform, segment["out_wav"]) < 1e-4
    # Phase is compared modulo 2 pi, where the magnitude is not negligible.
    audible = torch.from_numpy(segment["out_mag"]) > 1e-3 * float(segment["out_mag"].max())
    wrapped = torch.remainder(phase - torch.from_numpy(segment["out_pha"]) + math.pi, 2 * math.pi) - math.pi
    assert float(wrapped[audible].abs().max()) < 1e-4 * math.pi


@pytest.mark.parametrize("utterance", ["p232_005", "p232_021", "p257_015"])
def test_segmented_enhancement_matches_official_waveform(system, model, shared_dir, utterance):
    noisy, _ = soundfile.read(shared_dir / "vbdmd-sample" / "noisy" / f"{utterance}.wav", dtype="float32")
    official = np.load(shared_dir / "parity" / f"{system}_enhanced" / f"{utterance}.npy")
    ours = enhance(noisy, model, mode="segmented")
    assert ours.shape == official.shape
    residual_db = 10 * np.log10(np.sum(official**2) / np.sum((ours - official) ** 2))
    assert residual_db > 50


def test_pesq_over_sample_matches_official(system, enhanced_sample, sample_dir, shared_dir):
    from pesq import pesq

    with open(shared_dir / "parity" / f"{system}_official_pesq.csv") as stream:
        official = {row["utterance"]: float(row["pesq_wb_enhanced"]) for row in csv.DictReader(stream)}
    directory = enhanced_sample(SYSTEMS[system])
    for utterance, expected in official.items():
        clean, _ = soundfile.read(sample_dir / "clean" / f"{utterance}.wav")
        ours, _ = soundfile.read(directory / f"{utterance}.wav")
        assert abs(pesq(16_000, clean, ours, "wb") - expected) < 0.005, utterance

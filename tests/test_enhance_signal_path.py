"""imse.enhance against the documented signal path, computed here without imse's own helpers.

RMS normalisation (norm = sqrt(N / sum(x^2))), STFT (n_fft 510, hop 100, periodic Hann of 510,
centred, reflect padding), compressed magnitude |X|^0.3 and phase into the model, magnitude
decompressed with ^(1 / 0.3), iSTFT, and the output divided by norm; segmented mode cuts
30,700-sample segments, the last aligned to the end, and full mode pads to a frame count
divisible by 4.

A random tiny model reacts to a change of 1e-7 in its input by changes of 1e-2 in its output,
so the normalised input must be bit for bit the one imse.enhance feeds it. The test signal
is therefore +-1/8 (the sign of a speech-like signal): its energy is exact in any summation
order, norm is exactly 8, and scaling by a power of two is exact wherever it is applied.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imse.enhance import enhance
from tests.dummies.audio import speech_like
from tests.dummies.models import tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_FFT, HOP, WINDOW, COMPRESSION, SEGMENT = 510, 100, 510, 0.3, 30_700


def sign_signal(samples: int) -> np.ndarray:
    """+-1/8 following the sign of a speech-like signal: a gliding harmonic square wave, noise in the pauses."""
    return np.where(speech_like(samples / 16_000 + 0.01, seed=4)[:samples] >= 0, 0.125, -0.125).astype(np.float32)


def one_pass(model: torch.nn.Module, normalised: torch.Tensor) -> torch.Tensor:
    """STFT -> (|X|^0.3, angle X) -> model -> magnitude^(1/0.3) -> iSTFT, for one normalised waveform."""
    window = torch.hann_window(WINDOW, periodic=True)
    spectrum = torch.stft(normalised[None], N_FFT, hop_length=HOP, win_length=WINDOW, window=window,
                          center=True, pad_mode="reflect", return_complex=True)
    with torch.no_grad():
        magnitude, phase, _ = model(spectrum.abs() ** COMPRESSION, torch.angle(spectrum))
    enhanced = torch.polar(magnitude ** (1 / COMPRESSION), phase)
    return torch.istft(enhanced, N_FFT, hop_length=HOP, win_length=WINDOW, window=window, center=True)[0]


def documented_enhance(model: torch.nn.Module, noisy: np.ndarray, mode: str) -> np.ndarray:
    length = noisy.size
    norm = np.sqrt(length / np.sum(noisy.astype(np.float64) ** 2))
    assert norm == 8.0  # exact for this signal, so the normalised input below is exact too
    normalised = torch.from_numpy(noisy) * float(norm)
    if mode == "full":
        padded = length
        while (padded // HOP + 1) % 4:  # the shortest length whose centred STFT has 4k frames
            padded += 1
        output = one_pass(model, torch.nn.functional.pad(normalised, (0, padded - length)))[:length]
    elif length <= SEGMENT:
        output = one_pass(model, torch.nn.functional.pad(normalised, (0, SEGMENT - length)))[:length]
    else:
        starts = list(range(0, length - SEGMENT + 1, SEGMENT))
        pieces = [one_pass(model, normalised[start : start + SEGMENT]) for start in starts]
        if length % SEGMENT:  # the last segment ends at the end; the one before is cut where it starts
            last_start = length - SEGMENT
            pieces[-1] = pieces[-1][: last_start - starts[-1]]
            pieces.append(one_pass(model, normalised[last_start:]))
        output = torch.cat(pieces)
    return output.numpy() / norm


@pytest.mark.parametrize(("samples", "mode"), [(16_000, "full"), (16_000, "segmented"), (40_000, "segmented")])
def test_enhance_is_the_documented_signal_path(samples, mode):
    model = tiny_model()
    noisy = sign_signal(samples)
    expected = documented_enhance(model, noisy, mode)
    assert expected.shape == noisy.shape
    # The expected output is no scaled copy of the input: an enhance() that returned its
    # input, or any multiple of it, misses it by most of its energy.
    best_gain = np.dot(expected, noisy) / np.dot(noisy, noisy)
    assert np.linalg.norm(expected - best_gain * noisy) > 0.5 * np.linalg.norm(expected)
    actual = enhance(noisy, model, mode)
    assert actual.dtype == np.float32 and actual.shape == noisy.shape
    # float32 arithmetic after the model (polar form, iSTFT) may round differently: 1e-5 of the peak.
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5 * np.abs(expected).max())

"""P.56 active speech level, mixing at an SNR, the synthetic noises, and seeded determinism."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench.data.mixing import babble, long_term_spectrum, mix_at_snr, noise_segment, speech_shaped_noise
from bench.data.p56 import active_speech_level, measured_snr, rms_level
from bench.data.vbmini import DEFAULT_ROOT, mix_corpus, read_corpus
from imse.audio import read_audio
from imse.checkpoint import sha256_of

RATE = 16_000


def corpus_speech(count: int, split: str = "train") -> list[np.ndarray]:
    corpus = read_corpus(DEFAULT_ROOT)
    entries = [entry for entry in corpus["utterances"] if entry["split"] == split][:count]
    return [read_audio(DEFAULT_ROOT / entry["file"]).samples for entry in entries]


def test_p56_level_of_a_steady_tone_is_its_rms():
    time = np.arange(2 * RATE) / RATE
    tone = 0.1 * np.sin(2 * np.pi * 440 * time)
    level = active_speech_level(tone, RATE)
    assert level.level_db == pytest.approx(rms_level(tone), abs=0.1)
    assert level.activity > 0.95


def test_p56_level_ignores_pauses_that_the_rms_counts():
    speech = corpus_speech(1)[0]
    # VB-mini's speech is stored at -26 dBov active level.
    assert active_speech_level(speech, RATE).level_db == pytest.approx(-26.0, abs=0.05)

    def padded(seconds):
        silence = np.zeros(int(seconds * RATE), np.float32)
        return np.concatenate([silence, speech, silence])

    short, long = padded(0.5), padded(3.0)
    assert active_speech_level(long, RATE).level_db == pytest.approx(
        active_speech_level(short, RATE).level_db, abs=0.01
    )
    assert rms_level(long) < rms_level(short) - 3


def test_p56_refuses_silence():
    with pytest.raises(ValueError, match="all-zero"):
        active_speech_level(np.zeros(RATE), RATE)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 2.5, 7.5, 15.0, 17.5])
def test_mixer_hits_the_snr_within_a_tenth_of_a_decibel(snr_db):
    rng = np.random.default_rng(3)
    corpus = read_corpus(DEFAULT_ROOT)
    noises = [read_audio(DEFAULT_ROOT / entry["file"]).samples for entry in corpus["noises"]]
    worst = 0.0
    for speech in corpus_speech(3):
        for noise in noises:
            clean, noisy = mix_at_snr(speech, noise_segment(noise, speech.size, rng), snr_db, RATE)
            worst = max(worst, abs(measured_snr(clean, noisy, RATE) - snr_db))
    assert worst < 0.1


def steady_signals(seconds: float = 10.0) -> dict[str, np.ndarray]:
    """Signals without pauses, standing in for speech; 'loud tone' makes the mixer scale the pair down."""
    time = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(5)
    return {
        "tone": 0.1 * np.sin(2 * np.pi * 440 * time),
        "chord": 0.05 * sum(np.sin(2 * np.pi * f * time + f) for f in (220, 331, 497)),
        "stationary noise": 0.05 * rng.standard_normal(time.size),
        "loud tone": 0.9 * np.sin(2 * np.pi * 300 * time + 0.3),
    }


@pytest.mark.parametrize("kind", ["tone", "chord", "stationary noise", "loud tone"])
def test_mixer_snr_is_the_rms_ratio_when_the_speech_never_pauses(kind):
    """Checked without P.56: for a signal with no pauses the active level is the RMS level.

    Every sample is active except while P.56's envelope (30 ms time constant) first rises from
    zero, about 30 ms, so over 10 s the active level exceeds the RMS level by about
    10 log10(1 / (1 - 0.03 / 10)) = 0.013 dB (0.010 to 0.011 dB measured), and the RMS SNR falls
    short of the one set by that much: allowed 0 to 0.015 dB.
    """
    speech = steady_signals()[kind]
    rng = np.random.default_rng(7)
    for snr_db in (-5.0, 2.5, 17.5):
        clean, noisy = mix_at_snr(speech, rng.standard_normal(speech.size), snr_db, RATE)
        clean, noise = clean.astype(np.float64), noisy.astype(np.float64) - clean
        rms_snr = 20 * np.log10(np.sqrt(np.mean(clean**2)) / np.sqrt(np.mean(noise**2)))
        assert -0.015 <= rms_snr - snr_db <= 0, (kind, snr_db, rms_snr)
        assert np.max(np.abs(noisy)) <= 0.99 + 1e-6
        # the clean signal comes back as given, or scaled by the same factor as the mixture
        gain = np.dot(clean, speech) / np.dot(speech, speech)
        np.testing.assert_allclose(clean, gain * speech, atol=1e-7)
        if kind == "loud tone":
            assert gain < 0.99
        else:
            assert gain == pytest.approx(1.0, abs=1e-7)


def test_mixer_scales_both_signals_instead_of_clipping():
    speech = corpus_speech(1)[0] * 30  # about -0.5 dBov: a mixture would clip
    noise = np.random.default_rng(0).standard_normal(speech.size)
    clean, noisy = mix_at_snr(speech, noise, 0.0, RATE)
    assert np.max(np.abs(noisy)) <= 0.99 + 1e-6
    assert measured_snr(clean, noisy, RATE) == pytest.approx(0.0, abs=0.1)


def test_noise_segment_loops_short_noise():
    noise = np.arange(10, dtype=np.float32)
    segment = noise_segment(noise, 25, np.random.default_rng(0))
    assert segment.size == 25
    assert np.all(np.diff(segment) % 10 == 1) or np.all((np.diff(segment) == 1) | (np.diff(segment) == -9))


def test_speech_shaped_noise_follows_the_speech_spectrum():
    speech = corpus_speech(20)
    noise = speech_shaped_noise(speech, 10 * RATE, np.random.default_rng(0), RATE)
    target = 10 * np.log10(long_term_spectrum(speech))
    measured = 10 * np.log10(long_term_spectrum([noise]))
    band = slice(4, 200)  # 125 Hz .. 6.25 kHz
    offset = np.mean(measured[band] - target[band])
    assert np.median(np.abs(measured[band] - target[band] - offset)) < 1.5
    assert rms_level(noise) == pytest.approx(0.0, abs=0.01)


def test_babble_overlaps_several_talkers():
    speech = corpus_speech(30)
    crowd = babble(speech, 5 * RATE, np.random.default_rng(0), talkers=6, sample_rate=RATE)
    assert crowd.size == 5 * RATE and rms_level(crowd) == pytest.approx(0.0, abs=0.01)
    # A crowd has few pauses: nearly every 100 ms block carries energy.
    blocks = crowd[: crowd.size // 1600 * 1600].reshape(-1, 1600)
    assert np.mean(10 * np.log10(np.mean(blocks**2, axis=1)) > -15) > 0.9


def small_corpus(tmp_path, seed):
    """A copy of VB-mini with 8 training and 4 test utterances, all noises, and `seed`."""
    corpus = read_corpus(DEFAULT_ROOT)
    corpus["seed"] = seed
    keep = {"train": 8, "test": 4}
    corpus["utterances"] = [
        entry
        for split, count in keep.items()
        for entry in [e for e in corpus["utterances"] if e["split"] == split][:count]
    ]
    for entry in corpus["utterances"] + corpus["noises"]:
        (tmp_path / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEFAULT_ROOT / entry["file"], tmp_path / entry["file"])
    (tmp_path / "corpus.json").write_text(json.dumps(corpus))
    return corpus


def mixture_digests(tmp_path, seed, name):
    root = tmp_path / f"corpus-{seed}"
    root.mkdir(parents=True)
    corpus = small_corpus(root, seed)
    target = tmp_path / name
    mix_corpus(root, corpus, target)
    return {
        path.relative_to(target).as_posix(): sha256_of(path) for path in sorted(target.rglob("*")) if path.is_file()
    }


def test_the_same_seed_gives_the_same_mixtures(tmp_path):
    first = mixture_digests(tmp_path / "a", 7, "mix")
    second = mixture_digests(tmp_path / "b", 7, "mix")
    other = mixture_digests(tmp_path / "c", 8, "mix")
    assert first == second
    noisy = [name for name in first if name.startswith("wavs_noisy/")]
    assert len(noisy) == 12
    assert any(first[name] != other[name] for name in noisy)

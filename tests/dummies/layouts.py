"""Miniature VoiceBank+DEMAND layouts for tests: DataShare 48 kHz, upstream 16 kHz, Hugging Face.

Pairs are dicts id -> (clean, noisy) of float arrays. `synthetic_pairs` makes speech-like
ones (`tests.dummies.audio.speech_like` plus white noise) at any rate; `sample_pairs` reads
the real VoiceBank+DEMAND test pairs in ../shared/vbdmd-sample.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile

from bench.data.source import Source
from bench.data.utterance import SAMPLE_RATE, Utterance, speaker_of
from tests.dummies.audio import speech_like, write_wav

Pairs = dict[str, tuple[np.ndarray, np.ndarray]]
HUGGING_FACE_FEATURES = {
    "info": {
        "features": {
            "id": {"dtype": "string", "_type": "Value"},
            "clean": {"sampling_rate": SAMPLE_RATE, "_type": "Audio"},
            "noisy": {"sampling_rate": SAMPLE_RATE, "_type": "Audio"},
        }
    }
}


def synthetic_pairs(
    speakers: tuple[str, ...] = ("p001", "p002"),
    per_speaker: int = 2,
    seconds: float = 1.0,
    rate: int = SAMPLE_RATE,
    seed: int = 0,
) -> Pairs:
    """Speech-like clean signals and noisy copies (white noise about 25 dB down)."""
    rng = np.random.default_rng(seed)
    pairs: Pairs = {}
    for speaker in speakers:
        for number in range(1, per_speaker + 1):
            clean = speech_like(seconds + 0.1 * number, seed=int(rng.integers(1 << 31)), sample_rate=rate)
            clean = clean.astype(np.float32)
            noise = rng.standard_normal(clean.size).astype(np.float32) * 0.005
            pairs[f"{speaker}_{number:03d}"] = (clean, clean + noise)
    return pairs


def sample_pairs(shared_dir: Path) -> Pairs:
    """The 12 real VoiceBank+DEMAND test pairs (16 kHz) in ../shared/vbdmd-sample."""
    root = shared_dir / "vbdmd-sample"
    pairs: Pairs = {}
    for clean_path in sorted((root / "clean").glob("*.wav")):
        clean, _ = soundfile.read(clean_path, dtype="float32")
        noisy, _ = soundfile.read(root / "noisy" / clean_path.name, dtype="float32")
        pairs[clean_path.stem] = (clean, noisy)
    return pairs


def make_datashare_layout(root: Path, train: Pairs, test: Pairs, rate: int = 48_000, logged: bool = False) -> Path:
    """The Edinburgh DataShare directories, pairs written as 16-bit WAV at `rate`.

    `logged` adds logfiles/log_*.txt giving every pair the noise "cafe" and an SNR of 5 dB (train)
    or 2.5 dB (test), as the release's log files do.
    """
    folders = {
        "train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "log_trainset_28spk.txt", 5),
        "test": ("clean_testset_wav", "noisy_testset_wav", "log_testset.txt", 2.5),
    }
    for split, pairs in (("train", train), ("test", test)):
        clean_folder, noisy_folder, log, snr_db = folders[split]
        for utterance_id, (clean, noisy) in pairs.items():
            write_wav(root / clean_folder / f"{utterance_id}.wav", clean, rate)
            write_wav(root / noisy_folder / f"{utterance_id}.wav", noisy, rate)
        if logged:
            (root / "logfiles").mkdir(exist_ok=True)
            lines = "".join(f"{utterance_id} cafe {snr_db}\n" for utterance_id in pairs)
            (root / "logfiles" / log).write_text(lines, encoding="utf-8")
    return root


def make_upstream_layout(root: Path, train: Pairs, test: Pairs, rate: int = SAMPLE_RATE) -> Path:
    """wavs_clean/, wavs_noisy/ and MUSE-style lists whose paths point at the authors' machine."""
    for split, pairs in (("training.txt", train), ("test.txt", test)):
        lines = []
        for utterance_id, (clean, noisy) in pairs.items():
            write_wav(root / "wavs_clean" / f"{utterance_id}.wav", clean, rate)
            write_wav(root / "wavs_noisy" / f"{utterance_id}.wav", noisy, rate)
            lines.append(f"{utterance_id}|/home/yxlu/datasets/dataset_se/wav_clean/{utterance_id}.wav\n")
        (root / split).write_text("".join(lines), encoding="utf-8")
    return root


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def huggingface_table(pairs: Pairs, rate: int = SAMPLE_RATE) -> pa.Table:
    """A table with the hub's schema: id, and clean/noisy as Audio structs {bytes, path}."""
    audio = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema(
        [("id", pa.string()), ("clean", audio), ("noisy", audio)],
        metadata={"huggingface": json.dumps(HUGGING_FACE_FEATURES)},
    )
    columns = {
        "id": list(pairs),
        "clean": [{"bytes": wav_bytes(c, rate), "path": f"{i}.wav"} for i, (c, _) in pairs.items()],
        "noisy": [{"bytes": wav_bytes(n, rate), "path": f"{i}.wav"} for i, (_, n) in pairs.items()],
    }
    return pa.table(columns, schema=schema)


def make_parquet_layout(root: Path, train: Pairs, test: Pairs, rate: int = SAMPLE_RATE) -> Path:
    """data/train-00000-of-00001.parquet and data/test-... as the hub stores them."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, pairs in (("train", train), ("test", test)):
        pq.write_table(huggingface_table(pairs, rate), root / "data" / f"{split}-00000-of-00001.parquet")
    return root


def make_saved_dataset(root: Path, train: Pairs, test: Pairs) -> Path:
    """A DatasetDict.save_to_disk directory with the hub's schema."""
    import datasets

    tables = {"train": huggingface_table(train), "test": huggingface_table(test)}
    dataset = datasets.DatasetDict({split: datasets.Dataset(table) for split, table in tables.items()})
    dataset.save_to_disk(str(root))
    return root


class MemorySource(Source):
    """A source held in memory, for tests of what sits on top of sources."""

    name = "memory"

    def __init__(self, train: Pairs, test: Pairs):
        self.location = "memory"
        self.pairs = {"train": train, "test": test}

    def ids(self, split: str) -> list[str]:
        return sorted(self.pairs[split])

    def load(self, split: str, utterance_id: str) -> Utterance:
        clean, noisy = self.pairs[split][utterance_id]
        return Utterance(utterance_id, speaker_of(utterance_id), np.asarray(clean), np.asarray(noisy))

"""The Edinburgh DataShare release of VoiceBank+DEMAND at 48 kHz, resampled once to 16 kHz.

The release has clean_trainset_28spk_wav/, noisy_trainset_28spk_wav/, clean_testset_wav/
and noisy_testset_wav/ (DOI 10.7488/ds/2117). Clean and noisy files pair by name; the
release's log files (log_trainset_28spk.txt, log_testset.txt: "<id> <noise> <snr>" per
line, at the top or in logfiles/) give each pair's noise type and SNR when present. The
first open resamples every file with soxr's very-high-quality filter (a linear-phase
band-limited resampler, the same one `imse.audio.resample` uses everywhere) into an
atomic cache in the upstream 16 kHz layout; later opens read the cache.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import soxr
from tqdm import tqdm

from bench.conditions import Condition, write_conditions
from bench.data.cache import build_cache, cache_root, key_digest
from bench.data.source import check_full_counts
from bench.data.upstream import CLEAN, CONDITIONS, NOISY, Upstream16kSource, write_lists
from bench.data.utterance import FULL_SCALE, TEST, TRAIN, DataError, check_pair
from imse.audio import read_audio, resample, write_audio
from imse.frontend import SAMPLE_RATE

RELEASE_RATE = 48_000
DIRECTORIES = {
    TRAIN: ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav"),
    TEST: ("clean_testset_wav", "noisy_testset_wav"),
}
REQUIRED = tuple(name for pair in DIRECTORIES.values() for name in pair)
RESAMPLING_REPORT = "resampling.json"
LOGS = {TRAIN: "log_trainset_28spk.txt", TEST: "log_testset.txt"}
# Bump when what the cache holds changes; resampling the release again takes minutes.
CACHE_VERSION = 1


def log_files(root: Path) -> list[Path]:
    """The release's per-split log files that are present, at the top or in logfiles/."""
    return [
        candidate
        for name in LOGS.values()
        for candidate in (root / name, root / "logfiles" / name)
        if candidate.is_file()
    ]


def read_logs(root: Path) -> dict[str, Condition]:
    """id -> Condition (SNR in dB, noise type) from the log files."""
    conditions: dict[str, Condition] = {}
    for path in log_files(root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                utterance_id, noise_type, snr_db = fields
                conditions[utterance_id] = Condition(float(snr_db), noise_type)
                if not math.isfinite(conditions[utterance_id].snr_db):
                    raise ValueError("the SNR is not a finite number")
            except ValueError as error:
                raise DataError(
                    f"{path}:{number}: expected '<id> <noise type> <snr>', found {line!r}; "
                    "restore the file from the release or delete it"
                ) from error
    return conditions


def pair_files(root: Path, split: str) -> dict[str, tuple[Path, Path]]:
    """Map id -> (clean, noisy) for one split, refusing files that have no partner."""
    clean_directory, noisy_directory = (root / name for name in DIRECTORIES[split])
    clean = {path.stem: path for path in clean_directory.glob("*.wav")}
    noisy = {path.stem: path for path in noisy_directory.glob("*.wav")}
    for present, directory, other in ((clean, clean_directory, noisy), (noisy, noisy_directory, clean)):
        unpaired = sorted(set(present) - set(other))
        if unpaired:
            raise DataError(
                f"{directory}: {len(unpaired)} files have no partner in the other directory "
                f"(first: {unpaired[0]}.wav); the download is incomplete, fetch it again"
            )
    return {utterance_id: (clean[utterance_id], noisy[utterance_id]) for utterance_id in sorted(clean)}


def to_16k(path: Path) -> np.ndarray:
    return resample(read_audio(path, RELEASE_RATE).samples, RELEASE_RATE, SAMPLE_RATE)


class DataShareSource(Upstream16kSource):
    """The 48 kHz release, read through its 16 kHz cache."""

    def __init__(self, root: Path, *, claims_full_corpus: bool = True, cache: Path | None = None):
        root = Path(root).resolve()
        missing = [name for name in REQUIRED if not (root / name).is_dir()]
        if missing:
            raise DataError(
                f"{root}: not the DataShare 48 kHz layout, it lacks {', '.join(missing)} "
                f"(expected {', '.join(REQUIRED)})"
            )
        self.pairs = {split: pair_files(root, split) for split in DIRECTORIES}
        if claims_full_corpus:  # before resampling, which takes minutes
            check_full_counts(str(root), "datashare", {split: len(pairs) for split, pairs in self.pairs.items()})
        audio = [path for pairs in self.pairs.values() for pair in pairs.values() for path in pair]
        listing = sorted((path.relative_to(root).as_posix(), path.stat().st_size) for path in audio + log_files(root))
        key = {
            "kind": "datashare-16k",
            "version": CACHE_VERSION,
            "root": str(root),
            "listing": key_digest({"files": listing}),
            "resampler": f"soxr {soxr.__version__} VHQ",
        }
        directory = cache or cache_root() / f"datashare-16k-{key_digest(key)}"
        self.release = root
        build_cache(directory, key, self._resample_into, f"DataShare {root} at 16 kHz")
        location = f"{root} (16 kHz cache {directory})"
        super().__init__(directory, name="datashare", location=location, claims_full_corpus=claims_full_corpus)

    def _resample_into(self, target: Path) -> None:
        clipped: dict[str, int] = {}
        total = sum(len(pairs) for pairs in self.pairs.values())
        with tqdm(total=total, desc="resampling DataShare 48 kHz -> 16 kHz", unit="pair") as progress:
            for pairs in self.pairs.values():
                for utterance_id, (clean_path, noisy_path) in pairs.items():
                    clean, noisy = to_16k(clean_path), to_16k(noisy_path)
                    check_pair(utterance_id, clean, noisy, f"{clean_path} / {noisy_path}")
                    for side, samples in ((CLEAN, clean), (NOISY, noisy)):
                        over = int(np.count_nonzero(np.abs(samples) > FULL_SCALE))
                        if over:
                            clipped[f"{side}/{utterance_id}"] = over
                        limited = np.clip(samples, -1.0, FULL_SCALE)
                        write_audio(target / side / f"{utterance_id}.wav", limited, SAMPLE_RATE, "PCM_16")
                    progress.update()
        write_lists(target, {split: list(pairs) for split, pairs in self.pairs.items()})
        conditions = read_logs(self.release)
        if conditions:
            listed = {utterance_id for pairs in self.pairs.values() for utterance_id in pairs}
            write_conditions(target / CONDITIONS, {key: value for key, value in conditions.items() if key in listed})
        report = {"clipped_samples_after_resampling": clipped}
        (target / RESAMPLING_REPORT).write_text(json.dumps(report, indent=1), encoding="utf-8")

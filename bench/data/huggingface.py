"""VoiceBank+DEMAND as a Hugging Face dataset: columns id, clean, noisy; splits train and test.

Three forms: the hub id (JacobLinCool/VoiceBank-DEMAND-16k by default, needs the
network), local parquet files (a directory of train*/test* parquet files as the hub stores
them, or one such file, which brings its siblings) and a directory written by
`DatasetDict.save_to_disk`. The audio columns are read undecoded (their bytes) and
decoded here with soundfile, so no extra audio backend is needed, and checked the way
`imse.audio` checks files.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile

from bench.data.cache import cache_root
from bench.data.source import Source
from bench.data.utterance import SAMPLE_RATE, SPLITS, DataError, Utterance, check_pair

HUB_ID = "JacobLinCool/VoiceBank-DEMAND-16k"
COLUMNS = ("id", "clean", "noisy")


def parquet_files(path: Path) -> dict[str, list[str]]:
    """train*/test* parquet files under the directory `path`, or beside the file `path`."""
    candidates = sorted(path.parent.glob("*.parquet")) if path.is_file() else sorted(path.rglob("*.parquet"))
    files: dict[str, list[str]] = {split: [] for split in SPLITS}
    for candidate in candidates:
        for split in SPLITS:
            if candidate.name.startswith(split):
                files[split].append(str(candidate))
    if not any(files.values()):
        raise DataError(
            f"{path}: no parquet file named train*.parquet or test*.parquet; name them by split as the hub does"
        )
    return {split: names for split, names in files.items() if names}


def decode(data: bytes | None, where: str) -> np.ndarray:
    """Audio bytes -> mono float32 at 16 kHz, refusing what `imse.audio.read_audio` refuses."""
    if not data:
        raise DataError(f"{where}: no audio bytes; the row is damaged, rebuild the dataset")
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        raise DataError(f"{where}: cannot be decoded as audio ({error}); the row is damaged") from error
    if rate != SAMPLE_RATE:
        raise DataError(f"{where}: sample rate is {rate} Hz, expected {SAMPLE_RATE} Hz; use the 16 kHz dataset")
    if samples.shape[1] != 1:
        raise DataError(f"{where}: has {samples.shape[1]} channels, expected mono")
    samples = np.ascontiguousarray(samples[:, 0])
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        raise DataError(f"{where}: empty or contains NaN/inf samples; the row is damaged")
    return samples


class HuggingFaceSource(Source):
    """A `datasets` copy of VoiceBank+DEMAND at 16 kHz."""

    name = "huggingface"

    def __init__(self, location: str, *, claims_full_corpus: bool = True):
        import datasets

        self.location = location
        self.claims_full_corpus = claims_full_corpus
        path = Path(location)
        try:
            if path.is_dir() and (path / "dataset_dict.json").is_file():
                loaded = datasets.load_from_disk(str(path))
            elif path.suffix == ".parquet" or path.is_dir():
                # Its arrow copy goes beside this project's other caches, not into ~/.cache/huggingface.
                arrow_cache = str(cache_root() / "huggingface")
                loaded = datasets.load_dataset("parquet", data_files=parquet_files(path), cache_dir=arrow_cache)
            else:
                loaded = datasets.load_dataset(location)
        except (OSError, ValueError, ConnectionError) as error:
            raise DataError(
                f"{location}: cannot load the Hugging Face dataset ({error}); offline, pass a local parquet "
                "file or a saved dataset directory instead of the hub id"
            ) from error
        self.tables = {}
        for split in SPLITS:
            if split not in loaded:
                raise DataError(f"{location}: has no '{split}' split (found {sorted(loaded)}); both are needed")
            table = loaded[split]
            absent = [column for column in COLUMNS if column not in table.column_names]
            if absent:
                raise DataError(
                    f"{location}: split {split} lacks the columns {absent} (has {table.column_names}); "
                    "the schema is id, clean, noisy"
                )
            self.tables[split] = table.cast_column("clean", datasets.Audio(decode=False)).cast_column(
                "noisy", datasets.Audio(decode=False)
            )
        self.rows: dict[str, dict[str, int]] = {}
        for split, table in self.tables.items():
            rows: dict[str, int] = {}
            for row, utterance_id in enumerate(table["id"]):
                if utterance_id in rows:
                    raise DataError(
                        f"{location}: split {split} has the id {utterance_id} twice (rows {rows[utterance_id]} "
                        f"and {row}); remove the duplicate"
                    )
                self.speaker(utterance_id)
                rows[utterance_id] = row
            self.rows[split] = rows
        self.check_disjoint()
        self.check_counts()

    def ids(self, split: str) -> list[str]:
        return sorted(self.rows[split])

    def load(self, split: str, utterance_id: str) -> Utterance:
        row = self.tables[split][self.rows[split][utterance_id]]
        where = f"{self.location} {split} row {self.rows[split][utterance_id]} ({utterance_id})"
        clean = decode(row["clean"]["bytes"], f"{where} clean")
        noisy = decode(row["noisy"]["bytes"], f"{where} noisy")
        check_pair(utterance_id, clean, noisy, where)
        return Utterance(utterance_id, self.speaker(utterance_id), clean, noisy, SAMPLE_RATE)

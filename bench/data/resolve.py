"""From one `--data` value (or $IMSE_BENCH_DATA, or nothing) to an open source.

- `vb-mini` (the default): the corpus committed in data/vb-mini;
- `hf:<hub id>` (`hf:` alone means JacobLinCool/VoiceBank-DEMAND-16k), a `.parquet` file,
  or a directory holding parquet files or a saved dataset: the Hugging Face source;
- a directory with the DataShare folders: the 48 kHz release, resampled once;
- a directory with wavs_clean/, wavs_noisy/, training.txt, test.txt: the upstream layout;
- a directory with corpus.json: a VB-mini corpus somewhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.data import datashare, upstream
from bench.data.datashare import DataShareSource
from bench.data.huggingface import HUB_ID, HuggingFaceSource
from bench.data.source import Source
from bench.data.upstream import Upstream16kSource
from bench.data.utterance import DataError
from bench.data.vbmini import CORPUS, VBMiniSource

DATA_VARIABLE = "IMSE_BENCH_DATA"
VB_MINI = "vb-mini"
LAYOUTS = (
    f"(1) the DataShare 48 kHz release: a directory with {', '.join(datashare.REQUIRED)}; "
    f"(2) the upstream 16 kHz layout: a directory with {', '.join(upstream.REQUIRED)}; "
    f"(3) a Hugging Face dataset: hf:<hub id> (hf: alone is {HUB_ID}), a .parquet file, or a directory "
    "of train*/test* parquet files or of DatasetDict.save_to_disk; "
    f"or '{VB_MINI}' for the corpus in the repository"
)


def open_source(data: str | None = None, *, partial: bool = False) -> Source:
    """Open the source `data` names (default: $IMSE_BENCH_DATA, else vb-mini).

    `partial` says the source is a deliberate subset, so the 11,572 / 824 check is skipped.
    """
    if data is not None and not data.strip():
        raise DataError(f"--data is empty; name a source ({LAYOUTS}), or leave it out for ${DATA_VARIABLE} or vb-mini")
    data = data or os.environ.get(DATA_VARIABLE) or VB_MINI
    full = not partial
    if data == VB_MINI:
        return VBMiniSource()
    if data.startswith("hf:"):
        return HuggingFaceSource(data[3:] or HUB_ID, claims_full_corpus=full)
    path = Path(data).expanduser()
    if not path.exists():
        raise DataError(f"{data}: no such file or directory. --data expects one of: {LAYOUTS}")
    if path.is_file():
        if path.suffix == ".parquet":
            return HuggingFaceSource(str(path), claims_full_corpus=full)
        raise DataError(f"{data}: is a file but not a .parquet file. --data expects one of: {LAYOUTS}")
    if (path / CORPUS).is_file():
        return VBMiniSource(path)
    if any((path / name).exists() for name in datashare.REQUIRED):
        return DataShareSource(path, claims_full_corpus=full)
    if any((path / name).exists() for name in upstream.REQUIRED):
        return Upstream16kSource(path, claims_full_corpus=full)
    if (path / "dataset_dict.json").is_file() or any(path.rglob("*.parquet")):
        return HuggingFaceSource(str(path), claims_full_corpus=full)
    found = sorted(child.name for child in path.iterdir())[:8]
    raise DataError(f"{data}: matches none of the layouts (it holds {found}). --data expects one of: {LAYOUTS}")

"""Time the authors' own scoring, serially, on given pairs, for a speed ratio measured in one run.

The IMSE repository's `cal_metrics/cal_metrics.py` loads each clean and enhanced file with
librosa at 16 kHz and calls `compute_metrics` (CMGAN's port of composite.m plus PESQ and its
own STOI) on them, one file after another. This script does the same through the repository's
`cal_metrics/compute_metrics.py`; nothing of that repository is part of this project. It needs
numpy, scipy, pesq and librosa.

    OFFICIAL_PYTHON benchmarks/official_scoring.py --repository DIR CLEAN_DIR ENHANCED_DIR

Prints JSON: the seconds each file took (loading both signals and scoring them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repository", required=True)
    parser.add_argument("clean_dir", type=Path)
    parser.add_argument("enhanced_dir", type=Path)
    arguments = parser.parse_args()
    sys.path.insert(0, str(Path(arguments.repository) / "cal_metrics"))
    import librosa
    from compute_metrics import compute_metrics

    seconds = {}
    for clean_path in sorted(arguments.clean_dir.glob("*.wav")):
        start = time.perf_counter()
        clean, rate = librosa.load(clean_path, sr=16_000)
        enhanced, _ = librosa.load(arguments.enhanced_dir / clean_path.name, sr=16_000)
        compute_metrics(clean, enhanced, rate, 0)
        seconds[clean_path.name] = time.perf_counter() - start
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()

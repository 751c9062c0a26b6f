"""Summarise a VoiceBank+DEMAND source.

    python -m bench.data describe [--data SOURCE] [--partial] [--split train|test]

Prints, per split: the number of pairs, the speakers and their utterance counts, the
durations, the noise types and nominal SNRs where the source records them, and a
histogram of the SNR measured on every pair (P.56 speech level minus noise RMS level,
the VoiceBank+DEMAND definition). Bad pairs are skipped, counted and listed by reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import numpy as np
from tqdm import tqdm

from bench.data.datashare import RESAMPLING_REPORT
from bench.data.p56 import measured_snr
from bench.data.resolve import LAYOUTS, open_source
from bench.data.source import Source
from bench.data.upstream import Upstream16kSource
from bench.data.utterance import SPLITS, DataError, Skipped

SNR_BIN_DB = 2.5


def histogram(values: list[float], width: float = SNR_BIN_DB) -> list[str]:
    """Text bars of `values` in `width`-dB bins centred on multiples of `width` (the nominal SNRs)."""
    if not values:
        return ["    (none)"]
    lowest = np.floor(min(values) / width + 0.5) * width - width / 2
    edges = np.arange(lowest, max(values) + width, width)
    counts, edges = np.histogram(values, bins=edges)
    scale = 40 / max(counts.max(), 1)
    return [
        f"    {low + width / 2:6.1f} dB +- {width / 2:g} {count:6d} {'#' * int(round(count * scale))}"
        for low, count in zip(edges[:-1], counts, strict=True)
    ]


def describe_split(source: Source, split: str) -> list[str]:
    skipped: list[Skipped] = []
    speakers: Counter[str] = Counter()
    noise_types: Counter[str] = Counter()
    nominal: Counter[float] = Counter()
    durations: list[float] = []
    snrs: list[float] = []
    noise_free = 0
    ids = source.ids(split)
    for utterance in tqdm(source.utterances(split, skipped), total=len(ids), desc=f"reading {split}", unit="pair"):
        speakers[utterance.speaker] += 1
        durations.append(utterance.duration)
        if np.array_equal(utterance.clean, utterance.noisy):
            noise_free += 1
        else:
            snrs.append(measured_snr(utterance.clean, utterance.noisy, utterance.sample_rate))
        if utterance.noise_type is not None:
            noise_types[utterance.noise_type] += 1
            nominal[utterance.snr_db] += 1
    lines = [f"{split}: {len(ids)} pairs listed, {len(durations)} read, {len(skipped)} skipped"]
    lines.append(f"  speakers ({len(speakers)}): " + ", ".join(f"{s} {n}" for s, n in sorted(speakers.items())))
    if durations:
        seconds = np.array(durations)
        lines.append(
            f"  duration: {seconds.sum() / 60:.1f} min in all; per utterance min {seconds.min():.2f} s, "
            f"mean {seconds.mean():.2f} s, max {seconds.max():.2f} s"
        )
    if noise_types:
        lines.append("  noise types: " + ", ".join(f"{t} {n}" for t, n in sorted(noise_types.items())))
        lines.append("  nominal SNR: " + ", ".join(f"{snr:g} dB {n}" for snr, n in sorted(nominal.items())))
    else:
        lines.append("  noise types and nominal SNR: not recorded by this source")
    if noise_free:
        lines.append(f"  {noise_free} pairs have noisy identical to clean (no SNR)")
    lines.append(f"  measured SNR (P.56 speech level - noise RMS level), {SNR_BIN_DB} dB bins:")
    lines += histogram(snrs)
    reasons = Counter(item.reason.split(": ", 1)[-1] for item in skipped)
    for reason, count in reasons.most_common():
        lines.append(f"  skipped {count}: {reason}")
    for item in skipped[:10]:
        lines.append(f"    {item.id}: {item.reason}")
    return lines


def describe(source: Source, splits: tuple[str, ...]) -> str:
    lines = [f"source: {source.name}", f"location: {source.location}"]
    if isinstance(source, Upstream16kSource) and (source.root / RESAMPLING_REPORT).is_file():
        report = json.loads((source.root / RESAMPLING_REPORT).read_text(encoding="utf-8"))
        clipped = report["clipped_samples_after_resampling"]
        lines.append(f"resampling: {len(clipped)} files had samples beyond full scale, limited to it")
    for split in splits:
        lines += describe_split(source, split)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("describe", help="counts, speakers, durations and SNR histogram of a source")
    command.add_argument("--data", help=f"the source (default $IMSE_BENCH_DATA, else vb-mini). One of: {LAYOUTS}")
    command.add_argument("--partial", action="store_true", help="a deliberate subset: skip the 11,572/824 check")
    command.add_argument("--split", choices=SPLITS, help="describe one split only")
    arguments = parser.parse_args(argv)
    try:
        source = open_source(arguments.data, partial=arguments.partial)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(describe(source, (arguments.split,) if arguments.split else SPLITS))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Paired comparison of two systems scored on the same utterances.

    python -m bench.compare A.csv B.csv [--output comparison.json]

For each measure: the mean difference A - B over the utterances that are "ok" in both
tables, its paired bootstrap 95 % CI (utterances resampled, pairs kept), the Wilcoxon
signed-rank p-value (scipy.stats.wilcoxon), and the number of pairs. Both tables must use
the same composite variant: comparing a `loizou` CSIG with an `upstream-float` one would
measure the scale trap, not the systems.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from bench.errors import BenchError, report_error
from bench.evaluate import to_json
from bench.metrics import OK
from bench.metrics.statistics import BOOTSTRAP, paired_difference
from bench.metrics.table import TableError, read_table, score_columns
from imse.atomic import atomic_write_text


def paired_comparison(csv_a: str | os.PathLike, csv_b: str | os.PathLike) -> dict:
    """Per-measure paired statistics of table A against table B (difference = A - B)."""
    rows_a, header_a = read_table(csv_a)
    rows_b, header_b = read_table(csv_b)
    variants = {row["variant"] for row in rows_a} | {row["variant"] for row in rows_b}
    if len(variants) > 1:
        raise TableError(f"{csv_a} and {csv_b} use different composite variants {sorted(variants)}")
    by_utterance_a = {row["utterance"]: row for row in rows_a}
    by_utterance_b = {row["utterance"]: row for row in rows_b}
    common = sorted(set(by_utterance_a) & set(by_utterance_b))
    paired = [
        utterance
        for utterance in common
        if by_utterance_a[utterance]["status"] == OK and by_utterance_b[utterance]["status"] == OK
    ]
    measures = [name for name in score_columns(header_a) if name in score_columns(header_b)]
    metrics = {}
    for name in measures:
        first = np.array([by_utterance_a[utterance][name] for utterance in paired])
        second = np.array([by_utterance_b[utterance][name] for utterance in paired])
        metrics[name] = paired_difference(first, second)
    return {
        "a": str(csv_a),
        "b": str(csv_b),
        "difference": "a - b",
        "variant": variants.pop() if variants else None,
        "paired_utterances": len(paired),
        "only_in_a": len(set(by_utterance_a) - set(by_utterance_b)),
        "only_in_b": len(set(by_utterance_b) - set(by_utterance_a)),
        "failed_in_either": len(common) - len(paired),
        "metrics": metrics,
        "bootstrap": BOOTSTRAP,
    }


def _report(comparison: dict) -> str:
    lines = [
        f"A = {comparison['a']}",
        f"B = {comparison['b']}",
        f"{comparison['paired_utterances']} paired utterances (ok in both); variant {comparison['variant']}",
        f"{'metric':<8}{'mean A':>9}{'mean B':>9}{'A - B':>9}{'95% CI':>22}{'Wilcoxon p':>12}",
    ]
    for name, stats in comparison["metrics"].items():
        low, high = stats["ci95"]
        lines.append(
            f"{name:<8}{stats['mean_a']:>9.3f}{stats['mean_b']:>9.3f}{stats['mean_difference']:>+9.3f}"
            f"{f'[{low:+.3f}, {high:+.3f}]':>22}{stats['wilcoxon_p']:>12.3g}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.compare`: parse, compare, print the report (and write the JSON); 2 on an error."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="metrics table of system A")
    parser.add_argument("b", type=Path, help="metrics table of system B")
    parser.add_argument("--output", type=Path, help="also write the comparison as JSON here")
    arguments = parser.parse_args(argv)
    try:
        comparison = paired_comparison(arguments.a, arguments.b)
    except BenchError as error:
        return report_error(error)
    if arguments.output:
        atomic_write_text(arguments.output, to_json(comparison))
    print(_report(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())

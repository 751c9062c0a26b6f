"""Paired comparison of two systems scored on the same utterances.

    python -m bench.compare A.csv B.csv [--output comparison.json]

For each measure: the mean difference A - B over the utterances that are "ok" in both
tables, its paired bootstrap 95 % CI (utterances resampled, pairs kept), the Wilcoxon
signed-rank p-value (scipy.stats.wilcoxon), and the number of pairs. Below MIN_SAMPLE (6)
pairs the CI and p-value are not given ("n/a", NaN in the JSON, with a note); tables with
no utterance ok in both are refused (exit 2). The report counts paired, failed-in-either,
only-in-A and only-in-B utterances. Both tables must use
the same composite variant: comparing a `loizou` CSIG with an `upstream-float` one would
measure the scale trap, not the systems.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from bench.errors import BenchError, report_error
from bench.evaluate import is_json_with, to_json
from bench.metrics import OK
from bench.metrics.statistics import BOOTSTRAP, MIN_SAMPLE, paired_difference
from bench.metrics.table import TableError, read_table, score_columns
from imse.atomic import atomic_write_text


class CompareError(BenchError):
    """Two tables that cannot be compared (no utterance ok in both)."""


def paired_comparison(csv_a: str | os.PathLike, csv_b: str | os.PathLike) -> dict:
    """Per-measure paired statistics of table A against table B (difference = A - B).

    Raises TableError for an unreadable table or mixed variants, CompareError when no utterance is ok in both.
    """
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
    only_a, only_b = len(set(by_utterance_a) - set(by_utterance_b)), len(set(by_utterance_b) - set(by_utterance_a))
    if not paired:
        raise CompareError(f"{csv_a} and {csv_b}: no utterance is ok in both (paired 0, failed in either "
                           f"{len(common)}, only in A {only_a}, only in B {only_b}); nothing to compare")
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
        "only_in_a": only_a,
        "only_in_b": only_b,
        "failed_in_either": len(common) - len(paired),
        "metrics": metrics,
        "bootstrap": BOOTSTRAP,
    }


def check_output(output: Path, tables: tuple[Path, ...]) -> None:
    """Refuse an --output that is a directory, one of the compared tables, or a file bench.compare did not write."""
    if output.is_dir():
        raise CompareError(f"--output {output} is a directory; name a .json file")
    if any(output.resolve() == Path(table).resolve() for table in tables):
        raise CompareError(f"--output {output} is one of the tables being compared; name another file")
    if output.exists() and not is_json_with(output, {"difference", "paired_utterances"}):
        raise CompareError(f"--output {output} exists and is not a comparison written by bench.compare; "
                           "refusing to replace it: name another file")


def compare_tables(csv_a: Path, csv_b: Path, output: Path | None = None) -> dict:
    """`paired_comparison` of A and B, also written as JSON to `output` (checked before any work) when given."""
    if output is not None:
        check_output(Path(output), (csv_a, csv_b))
    comparison = paired_comparison(csv_a, csv_b)
    if output is not None:
        atomic_write_text(output, to_json(comparison))
    return comparison


def _report(comparison: dict) -> str:
    lines = [
        f"A = {comparison['a']}",
        f"B = {comparison['b']}",
        f"utterances: {comparison['paired_utterances']} paired (ok in both), {comparison['failed_in_either']} failed "
        f"in either, only in A {comparison['only_in_a']}, only in B {comparison['only_in_b']}; "
        f"variant {comparison['variant']}",
        f"{'metric':<8}{'mean A':>9}{'mean B':>9}{'A - B':>9}{'95% CI':>22}{'Wilcoxon p':>12}",
    ]
    notes = []
    for name, stats in comparison["metrics"].items():
        low, high = stats["ci95"]
        interval = f"[{low:+.3f}, {high:+.3f}]" if math.isfinite(low) else "n/a"
        p_value = f"{stats['wilcoxon_p']:.3g}" if math.isfinite(stats["wilcoxon_p"]) else "n/a"
        lines.append(f"{name:<8}{stats['mean_a']:>9.3f}{stats['mean_b']:>9.3f}{stats['mean_difference']:>+9.3f}"
                     f"{interval:>22}{p_value:>12}")
        if stats.get("note") and f"{name}: {stats['note']}" not in notes:
            notes.append(f"{name}: {stats['note']}")
    if comparison["paired_utterances"] < MIN_SAMPLE:
        notes = [f"fewer than {MIN_SAMPLE} pairs: no CI or Wilcoxon p-value (n/a); the means are descriptive only"]
    return "\n".join(lines + [f"note: {note}" for note in notes])


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.compare`: parse, compare, print the report (and write the JSON); 2 on an error."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="metrics table of system A")
    parser.add_argument("b", type=Path, help="metrics table of system B")
    parser.add_argument("--output", type=Path, help="also write the comparison as JSON here")
    arguments = parser.parse_args(argv)
    try:
        comparison = compare_tables(arguments.a, arguments.b, arguments.output)
    except BenchError as error:
        return report_error(error)
    print(_report(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())

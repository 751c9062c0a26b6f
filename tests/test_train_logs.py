"""The training logs that a resumed run cuts back to its checkpoint."""

from __future__ import annotations

from bench.train.logs import CsvLog


def test_a_row_torn_by_a_kill_is_dropped_with_the_rows_past_the_checkpoint(tmp_path):
    """Rows are written whole and flushed, so a last line without its newline was torn mid-write; it is not a row
    (here it would read as a step-1 row with empty columns)."""
    log = CsvLog(tmp_path / "train_log.csv", ["step", "loss"])
    for step in range(1, 5):
        log.write({"step": step, "loss": step / 10})
    with open(log.path, "a", encoding="utf-8") as stream:
        stream.write("1")
    log.truncate_after(3)
    assert log.path.read_text() == "step,loss\n1,0.1\n2,0.2\n3,0.3\n"

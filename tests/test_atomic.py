"""Atomic writes: the file appears whole, and with the permissions any other file would get."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from imse.atomic import atomic_write_text
from imse.audio import write_audio


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_respect_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "summary.json", "{}\n")
        write_audio(tmp_path / "enhanced.wav", np.zeros(160, dtype=np.float32), 16_000)
    finally:
        os.umask(previous)
    for name in ("summary.json", "enhanced.wav"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(ValueError):
        write_audio(target, np.zeros((2, 2, 2), dtype=np.float32), 16_000)  # soundfile refuses 3-D
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["table.csv"]


def test_a_plot_that_fails_half_way_leaves_the_previous_one(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from bench import plots

    (tmp_path / "frontier.png").write_bytes(b"previous")
    figure = plt.figure()

    def broken(stream, **options):
        stream.write(b"half a PNG")
        raise RuntimeError("renderer died")

    monkeypatch.setattr(figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="renderer died"):
        plots._save(figure, tmp_path, "frontier")
    assert (tmp_path / "frontier.png").read_bytes() == b"previous"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frontier.png"]


def test_an_empty_data_argument_is_refused_not_taken_for_vb_mini():
    from bench.data import DataError, open_source

    with pytest.raises(DataError, match="--data is empty"):
        open_source("")

"""The atomic cache: complete caches are reused, partial ones from killed builds are rebuilt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.data import DataError
from bench.data.cache import MANIFEST, build_cache, read_manifest

REPOSITORY = Path(__file__).resolve().parents[1]
KEY = {"kind": "test", "version": 1}


def fill(target: Path) -> None:
    (target / "part").mkdir()
    for number in range(3):
        (target / "part" / f"{number}.txt").write_text(str(number) * 100)


def test_build_then_reuse(tmp_path):
    manifest = build_cache(tmp_path / "cache", KEY, fill, "test cache")
    assert sorted(manifest["files"]) == ["part/0.txt", "part/1.txt", "part/2.txt"]
    assert manifest["files"]["part/1.txt"]["bytes"] == 100
    calls = []
    build_cache(tmp_path / "cache", KEY, calls.append, "test cache")
    assert calls == []
    with pytest.raises(DataError, match="built from other input"):
        build_cache(tmp_path / "cache", {"kind": "other"}, fill, "test cache")


def test_a_failed_fill_leaves_nothing(tmp_path):
    def broken(target: Path) -> None:
        (target / "half.txt").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_cache(tmp_path / "cache", KEY, broken, "test cache")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_build_is_detected_and_rebuilt(tmp_path):
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from bench.data.cache import build_cache\n"
        "def slow(target):\n"
        "    (target / 'started').write_text('yes')\n"
        "    time.sleep(60)\n"
        f"build_cache(Path(sys.argv[1]), {KEY!r}, slow, 'test cache')\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "cache")],
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".cache.partial-*/started")):
            assert time.monotonic() < deadline, "the child never started its build"
            time.sleep(0.1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    leftovers = list(tmp_path.glob(".cache.partial-*"))
    assert [path.name.split("-")[1] for path in leftovers] == [str(child.pid)]
    assert read_manifest(tmp_path / "cache") is None
    build_cache(tmp_path / "cache", KEY, fill, "test cache")
    assert read_manifest(tmp_path / "cache") is not None
    assert list(tmp_path.glob(".cache.partial-*")) == []


def test_a_cache_without_its_manifest_or_with_a_damaged_file_is_rebuilt(tmp_path, capsys):
    build_cache(tmp_path / "cache", KEY, fill, "test cache")
    (tmp_path / "cache" / "part" / "1.txt").write_text("short")
    assert read_manifest(tmp_path / "cache") is None
    build_cache(tmp_path / "cache", KEY, fill, "test cache")
    assert (tmp_path / "cache" / "part" / "1.txt").read_text() == "1" * 100
    manifest = json.loads((tmp_path / "cache" / MANIFEST).read_text())
    (tmp_path / "cache" / MANIFEST).unlink()
    build_cache(tmp_path / "cache", KEY, fill, "test cache")
    assert "partial cache of test cache" in capsys.readouterr().err
    def contents(files: dict) -> dict:  # the rebuilt files have other modification times
        return {name: (entry["bytes"], entry["sha256"]) for name, entry in files.items()}

    assert contents(json.loads((tmp_path / "cache" / MANIFEST).read_text())["files"]) == contents(manifest["files"])


def test_a_file_changed_in_place_at_the_same_size_is_caught_and_rebuilt(tmp_path):
    build_cache(tmp_path / "cache", KEY, fill, "test cache")
    changed = tmp_path / "cache" / "part" / "1.txt"
    changed.write_text("9" * 100)  # same size, other content
    assert read_manifest(tmp_path / "cache") is None
    build_cache(tmp_path / "cache", KEY, fill, "test cache")
    assert changed.read_text() == "1" * 100


def test_a_touched_but_unchanged_file_is_hashed_once_then_trusted(tmp_path):
    build_cache(tmp_path / "cache", KEY, fill, "test cache")
    touched = tmp_path / "cache" / "part" / "2.txt"
    os.utime(touched, ns=(1, 1))
    manifest = read_manifest(tmp_path / "cache")
    assert manifest is not None and manifest["files"]["part/2.txt"]["mtime_ns"] == 1
    recorded = json.loads((tmp_path / "cache" / MANIFEST).read_text())
    assert recorded["files"]["part/2.txt"]["mtime_ns"] == 1
    # a change that keeps size and time is found only on request
    touched.write_text("7" * 100)
    os.utime(touched, ns=(1, 1))
    assert read_manifest(tmp_path / "cache") is not None
    assert read_manifest(tmp_path / "cache", verify_hashes=True) is None


def test_the_cache_is_as_readable_as_any_directory(tmp_path):
    previous = os.umask(0o022)
    try:
        build_cache(tmp_path / "cache", KEY, fill, "test cache")
    finally:
        os.umask(previous)
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("kind", ["file", "dangling link"])
def test_a_cache_root_that_cannot_be_a_directory_is_refused(tmp_path, monkeypatch, kind):
    from bench.data.cache import CACHE_VARIABLE, cache_root

    root = tmp_path / "root"
    if kind == "file":
        root.write_text("mine\n")
    else:
        os.symlink(tmp_path / "gone", root)
    monkeypatch.setenv(CACHE_VARIABLE, str(root))
    with pytest.raises(DataError, match="is a file" if kind == "file" else "broken symbolic link"):
        cache_root()

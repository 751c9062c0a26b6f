"""The code revision a result records: the commit that ran, marked dirty when its code differs from it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench.provenance import source_revision

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed, so no revision to read")


def _git(root, *arguments: str) -> str:
    identity = ("-c", "user.name=imse-bench tests", "-c", "user.email=tests@example.invalid")
    return subprocess.run(["git", "-C", str(root), *identity, *arguments], check=True, capture_output=True,
                          text=True).stdout.strip()


def _revision(root) -> str:
    source_revision.cache_clear()
    return source_revision(root)


def test_the_revision_names_the_commit_and_marks_changed_code_only(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "bench" / "model.py").write_text("channels = 16\n")
    (tmp_path / "results" / "table.csv").write_text("pesq\n1.5\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert _revision(tmp_path) == head and len(head) == 40
    (tmp_path / "results" / "table.csv").write_text("pesq\n1.6\n")  # a job rewriting its own results
    (tmp_path / "bench" / "scratch.py").write_text("untracked\n")
    assert _revision(tmp_path) == head
    (tmp_path / "bench" / "model.py").write_text("channels = 32\n")
    assert _revision(tmp_path) == f"{head}-dirty"


def test_outside_a_checkout_it_says_it_does_not_know(tmp_path):
    assert _revision(tmp_path) == f"unknown: {tmp_path} is not a git checkout"

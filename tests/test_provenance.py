"""The code revision a result records: the commit that ran, marked dirty when tracked files differ from it."""

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


def test_the_revision_names_the_commit_and_marks_uncommitted_changes(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "model.py").write_text("channels = 16\n")
    _git(tmp_path, "add", "model.py")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    source_revision.cache_clear()
    assert source_revision(tmp_path) == head and len(head) == 40
    (tmp_path / "notes.txt").write_text("untracked files (runs, caches) do not mark it dirty\n")
    source_revision.cache_clear()
    assert source_revision(tmp_path) == head
    (tmp_path / "model.py").write_text("channels = 32\n")
    source_revision.cache_clear()
    assert source_revision(tmp_path) == f"{head}-dirty"


def test_outside_a_checkout_it_says_it_does_not_know(tmp_path):
    source_revision.cache_clear()
    assert source_revision(tmp_path) == f"unknown: {tmp_path} is not a git checkout"

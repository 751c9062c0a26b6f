"""What a result records of the code that made it: the commit, marked dirty when that code differs from it, read
when the process starts; and the command as it was typed."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from bench import provenance
from bench.provenance import source_revision

FOLDERS = ("imse", "baselines", "bench", "scripts", "data")
FILES = ("pyproject.toml", "noxfile.py")
"""What can change a number, named here rather than read from bench.provenance, so that a path dropped there fails."""
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed, so no revision to read")


def _git(root, *arguments: str) -> str:
    identity = ("-c", "user.name=imse-bench tests", "-c", "user.email=tests@example.invalid")
    return subprocess.run(["git", "-C", str(root), *identity, *arguments], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A repository with one committed file in every code path and one result; returns (root, head)."""
    for folder in FOLDERS:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "module.py").write_text("channels = 16\n")
    for file in FILES:
        (tmp_path / file).write_text("channels = 16\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.csv").write_text("pesq\n1.5\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path, _git(tmp_path, "rev-parse", "HEAD")


@needs_git
def test_a_clean_checkout_names_its_commit_even_after_the_job_rewrote_its_results(checkout):
    root, head = checkout
    assert source_revision(root) == head and len(head) == 40
    (root / "results" / "table.csv").write_text("pesq\n1.6\n")
    (root / "results" / "new.csv").write_text("pesq\n1.7\n")
    assert source_revision(root) == head


@needs_git
@pytest.mark.parametrize(("path", "change"), [*((f"{folder}/module.py", change) for folder in FOLDERS
                                               for change in ("edited", "staged")),
                                             *((f"{folder}/new.py", "untracked") for folder in FOLDERS),
                                             *((file, change) for file in FILES for change in ("edited", "staged"))])
def test_any_change_to_what_makes_a_number_marks_it_dirty(checkout, path, change):
    root, head = checkout
    (root / path).write_text("channels = 32\n")
    if change == "staged":
        _git(root, "add", path)
    assert source_revision(root) == f"{head}-dirty"


@needs_git
def test_the_environment_does_not_point_it_at_another_repository(checkout, tmp_path_factory, monkeypatch):
    root, head = checkout
    other = tmp_path_factory.mktemp("other")
    _git(other, "init", "-q")
    _git(other, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert source_revision(root) == head


def test_outside_a_checkout_or_without_git_it_says_it_does_not_know(tmp_path, monkeypatch):
    assert source_revision(tmp_path) == f"unknown: {tmp_path} is not a git checkout"
    (tmp_path / ".git").mkdir()
    monkeypatch.setenv("PATH", "")
    assert source_revision(tmp_path) == f"unknown: git could not read {tmp_path} (FileNotFoundError)"


def test_the_running_revision_is_the_one_read_at_start(monkeypatch):
    at_start = provenance.running_revision()
    monkeypatch.setattr(provenance, "source_revision", lambda *_: "a commit made while the job ran")
    assert provenance.running_revision() == at_start != "a commit made while the job ran"


def test_the_command_is_recorded_as_typed(monkeypatch):
    monkeypatch.setattr(sys, "orig_argv", ["/usr/bin/python3", "-m", "bench.train", "--out", "runs/a b"])
    monkeypatch.setattr(sys, "argv", ["/checkout/bench/train/__main__.py", "--out", "runs/a b"])
    assert provenance.command_line().endswith(" -m bench.train --out 'runs/a b'")

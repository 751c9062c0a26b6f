"""What made a number: package versions, the command line, the machine. Every result carries it."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]
CODE_PATHS = ("imse", "baselines", "bench", "scripts", "data", "pyproject.toml", "noxfile.py")
"""What makes a number (the code, the data shipped with it, the sessions that run it), as opposed to the numbers
(results/), their prose (docs/) and their checks (tests/)."""
PACKAGES = ("imse-bench", "torch", "numpy", "scipy", "pesq", "pystoi", "soundfile", "soxr", "pandas", "fvcore",
            "ptflops", "datasets")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages behind our numbers ('absent' when not installed)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        if name in versions:  # "python", which is no distribution
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def command_line() -> str:
    """How this process was started, for the record: `python -m bench.train ...` as typed, not the path of the
    module that -m ran (which, replayed, would import whichever bench is installed)."""
    return shlex.join([Path(sys.executable).name, *sys.orig_argv[1:]])


def _git(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}  # GIT_DIR
    return subprocess.run(["git", "--no-optional-locks", "-C", str(root), *arguments], capture_output=True,
                          text=True, timeout=30, env=environment)


def source_revision(root: Path = SOURCE_ROOT) -> str:
    """The git commit checked out at `root` now, '-dirty' when anything under CODE_PATHS differs from it.

    Staged, unstaged and untracked (not ignored) files all count: each can be imported or read. Files
    elsewhere do not: a job that has rewritten results/ still ran the committed code. Outside a git
    checkout (an installed wheel) it says so rather than guessing.
    """
    if not (root / ".git").exists():
        return f"unknown: {root} is not a git checkout"
    try:
        head = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS)
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown: git could not read {root} ({type(error).__name__})"
    if head.returncode != 0 or status.returncode != 0:
        return f"unknown: git could not read {root} ({(head.stderr or status.stderr).strip()})"
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


_REVISION_AT_START = source_revision()


def running_revision() -> str:
    """The revision of the code this process runs: read when bench.provenance was first imported, which every
    bench command does before its work, so that a job recording its provenance at its end (a training run, days
    later) names the code it started with, not whatever the checkout holds by then."""
    return _REVISION_AT_START

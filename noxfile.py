"""Sessions: `nox -s reproduce` (the main job), `nox -s lint tests regress` (what CI runs),
`nox -s ablation` (the ablation table's four training runs), `nox -s enhance` (enhance the sample),
`nox -s benchmarks` (speed figures, not run in CI).

Every session installs torch==2.13.0 first, so pip takes the CPU build and not a CUDA one.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "regress"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
SHARED = Path(os.environ.get("IMSE_BENCH_SHARED", ROOT.parent / "shared"))


def install(session: nox.Session, extras: str | None = "test") -> None:
    """torch first (the CPU build), then the project editable with `extras` (None: the core only)."""
    session.install("torch==2.13.0")
    session.install("-e", f".[{extras}]" if extras else ".")


def shared_environment() -> dict[str, str]:
    """Point the tests and the cache at ../shared when it is there."""
    if not SHARED.is_dir():
        return {}
    return {"IMSE_BENCH_SHARED": str(SHARED), "IMSE_CHECKPOINT_DIR": str(SHARED / "checkpoints")}


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The default test suite (about ten minutes on 2 cores)."""
    install(session)
    session.run("python", "-m", "pytest", *session.posargs, env=shared_environment())


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(python="3.11")
def reproduce(session: nox.Session) -> None:
    """The main job: complexity, bundles evaluated, IMSE's smoke training, tables and plots into results/.

    Extra arguments go to `python -m bench.reproduce`, e.g. `-- --profile paper --data SOURCE`.
    """
    install(session)
    session.run("python", "-m", "bench.reproduce", *session.posargs, env=shared_environment())


@nox.session(python="3.11")
def ablation(session: nox.Session) -> None:
    """The ablation table's runs: every registered model trained under the main job's budget (one run per
    core at a time) and evaluated, without complexity; about half an hour on 2 cores after the main job."""
    install(session)
    session.run("python", "-m", "bench.reproduce", "--skip-complexity", "--train", "all", *session.posargs,
                env=shared_environment())


@nox.session(python="3.11")
def regress(session: nox.Session) -> None:
    """Fresh evaluations against results/baselines: fails when a number moves beyond its tolerance."""
    install(session)
    session.run("python", "-m", "bench.regress", *session.posargs, env=shared_environment())


@nox.session(python="3.11")
def tables(session: nox.Session) -> None:
    """The comparison tables from results/ (default LaTeX); arguments go to bench.tables."""
    install(session)
    session.run("python", "-m", "bench.tables", *(session.posargs or ["--format", "latex"]))


@nox.session(python="3.11")
def enhance(session: nox.Session) -> None:
    """Enhance the 12 VoiceBank+DEMAND sample files with the official IMSE weights."""
    install(session, None)
    output = ROOT / "enhanced" / "imse-vb-3.399"
    session.run("python", "-m", "imse.enhance", str(SHARED / "vbdmd-sample" / "noisy"),
                "--checkpoint", "imse-vb-3.399", "--output-dir", str(output), *session.posargs,
                env=shared_environment())


@nox.session(python="3.11")
def benchmarks(session: nox.Session) -> None:
    """Speed figures: pytest-benchmark over benchmarks/, results saved under .benchmarks/."""
    install(session)
    session.run("python", "-m", "pytest", "benchmarks", "--benchmark-enable", "--benchmark-autosave",
                "-p", "no:cacheprovider", *session.posargs, env=shared_environment())

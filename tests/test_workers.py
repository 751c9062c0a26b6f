"""Pool workers die with their parent: a SIGKILLed evaluation or training run leaves none behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
TRAINING_POOL = """\
import numpy as np
from bench.train.pesq_targets import PesqTargets

targets = PesqTargets(workers=2)
rng = np.random.default_rng(0)
while True:
    clean = rng.standard_normal((2, 16000)).astype(np.float32)
    targets.submit(clean, clean + 0.1 * rng.standard_normal((2, 16000)).astype(np.float32)).result()
"""


def _children(pid: int) -> set[int]:
    """Live processes whose parent is `pid`, from /proc (zombies count as gone)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and not fields.get("State", "").startswith("Z"):
            found.add(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return not Path(f"/proc/{pid}/status").read_text().split("State:\t", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False



def _command(kind: str, shared_dir: Path, tmp_path: Path) -> list[str]:
    if kind == "training PESQ targets":
        return [sys.executable, "-c", TRAINING_POOL]
    sample = shared_dir / "vbdmd-sample"
    return [sys.executable, "-m", "bench.evaluate", "--clean-dir", str(sample / "clean"), "--enhanced-dir",
            str(sample / "noisy"), "--output", str(tmp_path / "m.csv"), "--jobs", "2", "--quiet"]


@pytest.mark.parametrize("kind", ["bench.evaluate --jobs 2", "training PESQ targets"])
def test_sigkill_of_a_parallel_run_leaves_no_worker_alive(shared_dir, tmp_path, kind):
    process = subprocess.Popen(_command(kind, shared_dir, tmp_path), cwd=REPOSITORY, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        workers: set[int] = set()
        while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            workers = _children(process.pid)
        assert len(workers) >= 2, "the run never started its two workers"
        time.sleep(1.0)  # let them take work
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in workers if _alive(pid)]
    finally:
        process.kill()
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"pool workers {survivors} outlived their SIGKILLed parent"

"""Seeds, every random number generator's state, and the switches for deterministic kernels.

What is deterministic:
- On CPU, the same seed, thread count, torch build and kernel instruction set (pinned to
  AVX2 by `bench.cpu_kernels`) give identical weights and logs:
  the data order and crops come from (seed, epoch, position), the models are seeded, and
  the only random draws during training are the discriminator's dropout masks, whose
  generator state is saved in every checkpoint. A resumed run ends bit for bit where the
  uninterrupted one does.
- On GPU, cuDNN autotuning picks kernels by timing, and several backward kernels
  (scatter/index_add, some convolution algorithms, atomicAdd reductions) sum in a
  varying order, so two runs drift apart after the first steps. `deterministic=True`
  (`--deterministic`) sets torch.use_deterministic_algorithms(True), turns cuDNN
  benchmarking off and cuDNN determinism on, and sets CUBLAS_WORKSPACE_CONFIG=:4096:8.
  It is slower. An operation with no deterministic CUDA kernel is named in a warning
  (warn_only) rather than stopping the run; such an operation keeps the run from being
  repeatable (MUSE's deformable sampling may be one: its backward scatters with atomics).
  The discriminator pools with amax, whose backward is deterministic, where
  AdaptiveMaxPool2d's CUDA backward is not.
- Not checked on a GPU here: this project's CI has none; the switches are torch's own.
- With N processes (DistributedDataParallel) gradients are averaged by an all-reduce, so
  the sums run in another order than one process's: the weights match the single-process
  run to rounding, not bit for bit. Each process draws its own dropout masks.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python's random, numpy's global generator and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def use_deterministic_kernels(enabled: bool) -> None:
    """Select deterministic GPU kernels (or leave torch's defaults when `enabled` is False)."""
    if not enabled:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def random_states() -> dict:
    """torch (CPU and CUDA), numpy and python generator states, in types torch.load(weights_only) accepts."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gauss": float(cached_gauss),
        },
        "python": {"version": version, "state": list(python_state), "gauss_next": gauss_next},
    }


def restore_random_states(states: dict) -> None:
    """Undo `random_states`: every generator continues exactly where it was saved."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy_state = states["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gauss"],
        )
    )
    python_state = states["python"]
    random.setstate((python_state["version"], tuple(python_state["state"]), python_state["gauss_next"]))

"""Distributed training through PyTorch's own engine: torchrun, DistributedDataParallel, gloo or nccl.

`torchrun --nproc-per-node N -m bench.train ...` sets RANK, WORLD_SIZE and LOCAL_RANK; a
plain `python -m bench.train` is a world of one and never touches torch.distributed.
Only rank 0 writes files; the others keep their random states in rank 0's checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from bench.train.config import ConfigError


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the job."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def initialise(device: str = "auto") -> ProcessGroup:
    """Join the torchrun job if there is one (gloo on CPU, nccl on GPU); else a world of one."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu (or auto)")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device(device)
    if world_size > 1 and not dist.is_initialized():
        # rank 0 validates while the others wait at a barrier: allow a long validation
        dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo", timeout=timedelta(hours=3))
    return ProcessGroup(rank, world_size, target)


def wrap(module: nn.Module, group: ProcessGroup, find_unused_parameters: bool = False) -> nn.Module:
    """DistributedDataParallel around `module` in a distributed job; the module itself otherwise."""
    if not group.distributed:
        return module
    device_ids = [group.device.index] if group.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def average(values: torch.Tensor, group: ProcessGroup) -> torch.Tensor:
    """The mean over processes of a tensor (for the logged losses)."""
    if not group.distributed:
        return values
    values = values.to(group.device)  # nccl reduces GPU tensors only
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu() / group.world_size


def gather(value: object, group: ProcessGroup) -> list:
    """Every process's `value`, in rank order (a collective: all processes must call it)."""
    if not group.distributed:
        return [value]
    gathered: list = [None] * group.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(group: ProcessGroup) -> None:
    """Wait for every process (nothing to wait for in a world of one)."""
    if group.distributed:
        dist.barrier()


def shutdown(group: ProcessGroup) -> None:
    """Leave the torchrun job: destroy the process group `initialise` joined (a no-op in a world of one)."""
    if group.distributed and dist.is_initialized():
        dist.destroy_process_group()

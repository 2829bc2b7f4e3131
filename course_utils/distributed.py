"""Data parallelism in a few small functions, on PyTorch's own ``torch.distributed``.

Data-parallel training runs one copy of the program per device (a *rank*).
Every rank holds the whole model, reads its own slice of each batch, and
after ``loss.backward()`` the ranks *all-reduce* their gradients (sum, then
divide by the number of ranks), so every optimizer step is the same on every
rank and the weights stay identical. ``DistributedDataParallel`` (DDP) does
that all-reduce for you, overlapped with the backward pass.

``torchrun`` starts the processes and tells each one who it is through
environment variables: ``RANK`` (0 .. WORLD_SIZE-1 over all machines),
``WORLD_SIZE`` (how many processes in all), ``LOCAL_RANK`` (which GPU on this
machine) and ``MASTER_ADDR``/``MASTER_PORT`` (where rank 0 listens). A script
calls ``init_from_env()`` once; run without torchrun, it is a world of one and
every function here does the single-process thing::

    rank, world_size, local_rank = init_from_env()   # (0, 1, 0) without torchrun
    ...
    if is_main():
        save_checkpoint(...)                         # one writer, not N
    cleanup()

The communication *backend* is NCCL between NVIDIA GPUs (fast, GPU to GPU)
and gloo on CPUs (works everywhere, slower).
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def launched_by_torchrun() -> bool:
    """True when this process was started by ``torchrun`` (or another launcher of the same kind).

    We look at ``WORLD_SIZE`` directly, because this is the question
    ``torch.distributed`` cannot answer before it is initialised. These are
    torchrun's own variables, not the course's settings, so they are read
    here rather than in ``course_utils.config``.
    """
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def default_backend() -> str:
    """``"nccl"`` when CUDA GPUs are there, else ``"gloo"`` (CPUs; also macOS and Windows)."""
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def init_from_env(backend: str | None = None) -> tuple[int, int, int]:
    """Join the process group torchrun set up; return ``(rank, world_size, local_rank)``.

    ``init_process_group(init_method="env://")`` reads RANK, WORLD_SIZE,
    MASTER_ADDR and MASTER_PORT and waits until every rank has arrived. On a
    GPU machine each process then picks its own GPU, ``cuda:LOCAL_RANK``.
    Without torchrun nothing is initialised and the answer is ``(0, 1, 0)``.

    >>> init_from_env()  # a plain `python script.py`
    (0, 1, 0)
    """
    if not launched_by_torchrun():
        return 0, 1, 0
    if not dist.is_initialized():
        backend = backend or default_backend()
        if backend == "nccl":  # bind this process to its GPU before any communication
            torch.cuda.set_device(dist.get_node_local_rank(fallback_rank=0))
        dist.init_process_group(backend=backend, init_method="env://")
    return dist.get_rank(), dist.get_world_size(), dist.get_node_local_rank(fallback_rank=0)


def is_distributed() -> bool:
    """True inside an initialised process group (torchrun plus ``init_from_env``)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank: 0 .. world_size - 1 (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """How many processes train together (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0, the one process that prints, logs and writes checkpoints.

    N processes writing one file at once would corrupt it; N progress bars
    would bury each other. Every rank holds the same weights, so one speaks.
    """
    return get_rank() == 0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks, in place, and return it (unchanged with one process).

    Each rank counts its own correct predictions; the sum is the global count:

    >>> correct = all_reduce_sum(torch.tensor(461))  # 461 here, 470 on the other rank -> 931
    """
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (anything picklable), in rank order: ``[obj_of_rank_0, ...]``."""
    if not is_distributed():
        return [obj]
    objects: list[Any] = [None] * get_world_size()
    dist.all_gather_object(objects, obj)
    return objects


def broadcast_buffers(model: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm's running mean and variance) to every rank.

    DDP keeps *parameters* identical by averaging gradients, but each rank
    updates BatchNorm's running statistics from its own slice of the batch.
    DDP copies rank 0's buffers at the start of each forward pass; calling
    this after an epoch makes evaluation and checkpoints agree on all ranks.
    """
    if is_distributed():
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=src)


def barrier() -> None:
    """Wait here until every rank arrives (does nothing with one process)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (call once, at the end of the script)."""
    if is_distributed():
        dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a ``DistributedDataParallel`` or ``torch.compile`` wrapper.

    DDP's ``state_dict`` names every weight ``module.conv1.weight``, a compiled
    model's ``_orig_mod.conv1.weight``; saving ``unwrap(model).state_dict()``
    gives ``conv1.weight``, which loads into a plain model in a notebook.
    """
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            return model


def per_rank_batch_size(global_batch_size: int, world_size: int) -> int:
    """The batch each rank reads so that together they make ``global_batch_size``.

    >>> per_rank_batch_size(512, 4)
    128
    """
    if global_batch_size % world_size != 0:
        raise ValueError(
            f"The batch size {global_batch_size} does not split evenly over {world_size} "
            f"processes: choose a multiple of {world_size} (e.g. "
            f"{max(world_size, global_batch_size // world_size * world_size)})."
        )
    return global_batch_size // world_size


def weights_fingerprint(model: nn.Module) -> str:
    """A short SHA-256 of every parameter and buffer: equal fingerprints, equal weights.

    Compare it across ranks (``all_gather_objects(weights_fingerprint(m))``)
    to see that data parallelism kept the copies in step.
    """
    digest = hashlib.sha256()
    for name, tensor in unwrap(model).state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]

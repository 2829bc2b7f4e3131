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

Every collective (all-reduce, broadcast, barrier) waits for *all* ranks. A
rank that crashes closes its connections and the others notice at once; a
rank that freezes (suspended with Ctrl-Z or SIGSTOP, swapping, stuck on a
network file system) says nothing, and the others wait for it until the
process group's *timeout* (``init_from_env(timeout=...)``, ten minutes by
default). Then ``silent_ranks()`` takes a roll call to find out who it was.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import time
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


#: Seconds a collective waits for the other ranks before it fails (NCCL's own
#: default; gloo's is 30 minutes). Long enough for local rank 0 to download
#: CIFAR-10 (170 MB) at 3 Mbit/s while the others wait, or for torch.compile
#: to warm up; short enough that a frozen rank is noticed the same session.
DEFAULT_TIMEOUT = 600.0


def init_from_env(backend: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, int, int]:
    """Join the process group torchrun set up; return ``(rank, world_size, local_rank)``.

    ``init_process_group(init_method="env://")`` reads RANK, WORLD_SIZE,
    MASTER_ADDR and MASTER_PORT and waits until every rank has arrived. On a
    GPU machine each process then picks its own GPU, ``cuda:LOCAL_RANK``.
    Without torchrun nothing is initialised and the answer is ``(0, 1, 0)``.

    ``timeout`` (seconds) is how long any collective waits for a rank that
    has stopped answering before it raises on the ranks still running. On
    gloo that is a ``RuntimeError`` (``is_timeout_error`` recognises it). On
    NCCL a watchdog thread notices it, as long as
    ``TORCH_NCCL_ASYNC_ERROR_HANDLING`` is not set to 0 (it is on by
    default), and ends the process, so torchrun then stops the others.

    >>> init_from_env()  # a plain `python script.py`
    (0, 1, 0)
    >>> init_from_env(timeout=60)  # doctest: +SKIP
    (0, 2, 0)
    """
    if not timeout > 0:
        raise ValueError(f"The process group's timeout must be more than 0 seconds, not {timeout:g}: "
                         f"give the seconds a collective may wait (default {DEFAULT_TIMEOUT:g}).")
    if not launched_by_torchrun():
        return 0, 1, 0
    if not dist.is_initialized():
        backend = backend or default_backend()
        if backend == "nccl":  # bind this process to its GPU before any communication
            torch.cuda.set_device(dist.get_node_local_rank(fallback_rank=0))
        dist.init_process_group(backend=backend, init_method="env://",
                                timeout=datetime.timedelta(seconds=timeout))
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


def sum_over_ranks(*values: torch.Tensor | float, device: torch.device | str = "cpu") -> list[float]:
    """Each of ``values`` summed over all ranks, as Python floats (one process: the values as they are).

    One all-reduce carries them all, in float64 so that counts stay exact. ``fit`` and
    ``evaluate`` sum their loss, correct predictions and example counts with it, once
    per pass: the result is global, whichever rank reads it.

    >>> sum_over_ranks(torch.tensor(2.5), 461)
    [2.5, 461.0]
    """
    if not is_distributed():  # nothing to add up (and MPS has no float64)
        return [float(v) for v in values]
    stacked = torch.stack([torch.as_tensor(v, device=device).to(torch.float64) for v in values])
    return all_reduce_sum(stacked).tolist()


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


def is_timeout_error(err: BaseException) -> bool:
    """Is ``err`` a collective that gave up waiting for another rank (the process group's timeout)?

    gloo raises a plain ``RuntimeError`` that says "Timed out waiting 600000ms
    for recv operation", or, on a rank whose neighbour gave up first,
    "Application timeout caused pair closure"; the text is all there is to go by.
    """
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("timed out" in text or "timeout" in text)


#: Seconds the roll call waits for the ranks still running to answer. They
#: gave up on the same collective, so they arrive within about one step.
ROLL_CALL_WAIT = 30.0


def silent_ranks(wait: float = ROLL_CALL_WAIT) -> list[int] | None:
    """After a timeout, the ranks that do not answer a roll call within ``wait`` seconds.

    Each rank still running writes its rank into the rendezvous store (the
    key-value server at MASTER_ADDR:MASTER_PORT where the ranks met; under
    torchrun it lives in torchrun itself), then waits until every rank has
    written or ``wait`` has passed. The ranks missing from the store are the
    ones that stopped answering; every rank that asks gets the same answer::

        except RuntimeError as err:
            if is_timeout_error(err):
                print(silent_ranks())   # [1]: rank 1 is frozen

    ``None`` when the store itself did not answer: started by ``env://``
    without torchrun it lives in rank 0's process, so rank 0 is then the
    likely one. A world of one has nobody to miss: ``[]``.
    """
    if not is_distributed():
        return []
    ranks = [str(rank) for rank in range(get_world_size())]
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")  # torchrun keeps its store across restarts
    try:
        store = dist.PrefixStore(f"course_utils/roll_call/{attempt}/", dist.TCPStore(
            os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
            timeout=datetime.timedelta(seconds=wait)))
        store.set(str(get_rank()), "here")
        deadline = time.monotonic() + wait
        while not store.check(ranks) and time.monotonic() < deadline:  # everyone here yet?
            time.sleep(0.1)
        return [int(rank) for rank in ranks if not store.check([rank])]
    except (RuntimeError, KeyError, ValueError):  # no store to ask, or it did not answer
        return None


def timeout_message(silent: list[int] | None, timeout: float) -> str:
    """What happened when a collective timed out, in words, given ``silent_ranks()``.

    >>> timeout_message([1], 600)[:53]
    'rank 1 stopped answering: the other ranks waited 600 '
    """
    why = ("A rank stops answering when its process is frozen (suspended with Ctrl-Z or SIGSTOP, "
           "swapping, stuck on a network file system, its machine unreachable) or busy for longer "
           "than the timeout (a first download, torch.compile's warm-up).")
    waited = f"waited {timeout:g} s (the process group's timeout)"
    if silent is None:
        return (f"a collective operation {waited} for another rank and gave up, and the roll call "
                "that names it got no answer from the rendezvous store either; without torchrun "
                f"that store lives in rank 0's process, so rank 0 is the likely one. {why}")
    if not silent:
        return (f"a collective operation {waited} for another rank and gave up, but every rank "
                "answered the roll call afterwards: none is frozen, one was busy for longer than "
                "that (a first download, torch.compile's warm-up, a slow file system).")
    who = (f"rank {silent[0]}" if len(silent) == 1
           else f"ranks {', '.join(map(str, silent[:-1]))} and {silent[-1]}")
    return (f"{who} stopped answering: the other ranks {waited} for "
            f"{'it' if len(silent) == 1 else 'them'} in a collective operation (an all-reduce of "
            f"gradients or metrics, a barrier) and gave up. {why}")


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

"""Exercises of ``12_from_notebook_to_multi_gpu``: the arithmetic of data parallelism.

* ``per_rank_batch``  the batch one GPU reads when the global batch is split over 2 machines x 4 GPUs
* ``epoch_plan``      images per rank, steps per epoch and repeats with a ``DistributedSampler``
* ``scaled_lr``       the linear scaling rule for the learning rate
* ``who_writes``      which ranks write the checkpoint
"""
from __future__ import annotations

import math
from typing import Any, Callable

from torch.utils.data import DataLoader, DistributedSampler

from course_utils.exercises import Exercise, number_exercise, table_exercise, when

__all__ = ["per_rank_batch", "epoch_plan", "scaled_lr", "who_writes"]


# --- per_rank_batch ---
_BATCH_MISTAKES = {
    128: "that is 512 / 4: you split over the GPUs of one machine. torchrun starts "
         "2 x 4 = 8 processes in all (WORLD_SIZE = 8), and all of them share the batch.",
    256: "that is 512 / 2: you split over the machines only; each machine runs 4 processes.",
    512: "that is the global batch itself: each of the 8 processes reads only its share.",
    4096: "that is 512 x 8: --batch-size is the global batch here, split over the ranks, "
          "not multiplied.",
}

per_rank_batch = number_exercise(
    "per_rank_batch",
    "You run `torchrun --nnodes=2 --nproc_per_node=4 -m course_utils train ... --batch-size 512`: "
    "two machines with 4 GPUs each. How many images does ONE process (one GPU) read per step?",
    64, _BATCH_MISTAKES, "How many processes are there in all, and what is 512 shared among them?",
    hint="How many processes does torchrun start in all, counting both machines? That is "
         "WORLD_SIZE, and --batch-size is the global batch, shared evenly among them.",
    solution="answer = 512 // (2 * 4)  # 64 images per GPU, 8 GPUs, 512 per optimizer step",
    praise="right: WORLD_SIZE = 2 x 4 = 8, and 512 / 8 = 64 images per GPU per step.",
)


# --- epoch_plan ---
#: Cases (images, global batch, world size) the learner's function is compared on.
_PLAN_CASES = [(1000, 128, 2), (1000, 96, 3), (10, 4, 4), (50_000, 512, 8), (7, 2, 2), (1003, 64, 4)]


def real_epoch_plan(n_images: int, global_batch: int, world_size: int) -> tuple[int, int, int]:
    """What PyTorch does: build the sampler and loader of rank 0 and count."""
    data = list(range(n_images))
    sampler = DistributedSampler(data, num_replicas=world_size, rank=0, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=global_batch // world_size, sampler=sampler)
    per_rank = len(sampler)
    return per_rank, len(loader), per_rank * world_size - n_images


def _check_epoch_plan(fn: Callable) -> str | None:
    """Compare ``fn`` with PyTorch on each case; for the first that differs, say which way it rounded wrong."""
    if not callable(fn):
        return "give the function itself (epoch_plan, without brackets)."
    for n, batch, world in _PLAN_CASES:
        got = fn(n, batch, world)
        want = real_epoch_plan(n, batch, world)
        try:
            got = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            return f"return three numbers (samples_per_rank, steps, repeats), not {got!r}."
        if len(got) != 3:
            return f"return three numbers (samples_per_rank, steps, repeats), not {len(got)}."
        if got == want:
            continue
        case = f"for {n:,} images, global batch {batch} and {world} processes"
        if got[0] == n // world and want[0] != n // world:
            return (f"{case} you gave {got[0]} images per rank: you floored. DistributedSampler "
                    f"pads with repeats so every rank gets ceil({n}/{world}) = {want[0]} (all ranks "
                    "must take the same number of steps, or the gradient all-reduce would wait forever).")
        if got[0] == n and world > 1:
            return f"{case} each rank sees only its share of the images, not all {n:,}."
        if got[0] != want[0]:
            return f"{case} the images per rank should be {want[0]}, not {got[0]}."
        if got[1] == want[0] // (batch // world) and got[1] != want[1]:
            return (f"{case} you gave {got[1]} steps: the last, smaller batch still counts "
                    f"(drop_last=False), so it is {want[1]}: round up.")
        if got[1] == math.ceil(want[0] / batch):
            return (f"{case} you divided by the global batch: each rank's loader uses the "
                    f"per-rank batch {batch // world}, giving {want[1]} steps.")
        if got[1] != want[1]:
            return f"{case} the steps per epoch should be {want[1]}, not {got[1]}."
        if got[2] == 0 and want[2] > 0:
            return (f"{case} {want[0]} x {world} = {want[0] * world} indices are drawn for "
                    f"{n:,} images: {want[2]} are repeats.")
        return f"{case} the repeats should be {want[2]}, not {got[2]}."
    return None


epoch_plan = Exercise(
    "epoch_plan",
    "Write epoch_plan(n_images, global_batch, world_size) returning (samples_per_rank, "
    "steps_per_epoch, repeats): how many images one rank reads per epoch with a "
    "DistributedSampler (drop_last=False), how many optimizer steps that is with the per-rank "
    "batch global_batch // world_size, and how many images the sampler repeats to pad.",
    _check_epoch_plan,
    hint="All ranks must take the same number of steps, so the sampler never drops an image: it "
         "pads with repeats. The loader keeps a last, smaller batch (drop_last=False). Both facts "
         "tell you which way to round.",
    solution="def epoch_plan(n_images, global_batch, world_size):\n"
             "    per_rank = math.ceil(n_images / world_size)\n"
             "    steps = math.ceil(per_rank / (global_batch // world_size))\n"
             "    return per_rank, steps, per_rank * world_size - n_images",
    praise="right, and it agrees with PyTorch's own DistributedSampler and DataLoader.",
    answer_name="epoch_plan",
    mistakes=[(lambda n, b, w: (n // w, math.ceil(n // w / (b // w)), 0), "you floored"),
              (lambda n, b, w: (-(-n // w), -(-n // w) // (b // w), -(-n // w) * w - n), "round up"),
              (lambda n, b, w: (-(-n // w), math.ceil(-(-n // w) / b), -(-n // w) * w - n), "global batch"),
              (lambda n, b, w: (n, math.ceil(n / b), 0), "its share"),
              (lambda n, b, w: 3, "three numbers")],
)


# --- scaled_lr ---
scaled_lr = number_exercise(
    "scaled_lr",
    "A ResNet trains well with SGD, learning rate 0.1 and batch 256 on one GPU. You move to 8 "
    "GPUs and keep 256 images per GPU. By the linear scaling rule (Goyal et al., 2017, "
    "'Accurate, Large Minibatch SGD'), what learning rate should you start from?",
    0.8, {
        0.1: "0.1 is the one-GPU learning rate. With 8 GPUs each step averages the gradient over 8x more "
             "images and there are 8x fewer steps per epoch: the rule scales the learning rate up with the batch.",
        0.1 * math.sqrt(8): "that is the square-root rule, sometimes used with Adam. For SGD the rule of "
                            "Goyal et al. (2017) is linear: k times the batch, k times the learning rate.",
        0.1 / 8: "you divided: a bigger batch gets a bigger learning rate, not a smaller one.",
        0.4: "check the global batch: 8 GPUs x 256 images = 2,048, which is 8x the 256 you started from.",
    }, "By what factor did the batch grow?", tolerance=1e-3,
    hint="First find k: how many times larger is the new global batch (all GPUs together) than "
         "the one the 0.1 was tuned for? The linear rule scales the learning rate by that k.",
    solution="answer = 0.1 * (8 * 256) / 256  # 0.8: the batch grew 8x, so does the learning rate",
    praise="right: 0.8. Large rates need a warm-up, which is what the rising half of one-cycle does.",
)


# --- who_writes ---
def _ranks(answer: Any) -> frozenset[int] | None:
    """A set of whole-number ranks from a set, list, tuple, range or one number, else None."""
    items = answer if isinstance(answer, (set, list, tuple, frozenset, range)) else [answer]
    try:
        if any(isinstance(r, bool) or float(r) != int(float(r)) for r in items):
            return None
        return frozenset(int(float(r)) for r in items)
    except (TypeError, ValueError):
        return None


who_writes = table_exercise(
    "who_writes",
    "On 2 machines x 4 GPUs (RANK 0-7; RANK 0-3 on the first machine, 4-7 on the second), "
    "which ranks should write checkpoint.pt, TensorBoard logs and history.json? Give a set, "
    "e.g. {1, 2}.",
    frozenset({0}), {
        frozenset({0, 4}): "those are the LOCAL_RANK-0 processes of each machine. With --out on a shared "
                           "filesystem they would write the same file at once; every rank holds the same "
                           "weights, so global rank 0 alone writes.",
        frozenset(range(8)): "eight processes writing one checkpoint at once would corrupt it, and eight "
                             "copies of the same weights are waste: one rank is enough.",
    }, lambda ranks: f"{sorted(ranks)} is not it: how many copies of identical weights do you need?",
    read=_ranks, what="a set of ranks (whole numbers) such as {1, 2}",
    steps=[when(lambda ranks: 0 not in ranks,
                "rank 0 is the one that always exists (even with one process): the writer is rank 0.")],
    examples=[({1}, "rank 0 is the one"), (0.5, "whole numbers"), ("rank zero", "set of ranks")],
    hint="After every step all ranks hold identical weights, and the metrics are already "
         "summed over all ranks. How many writers does that need, and which rank always exists?",
    solution="answer = {0}  # global rank 0 only: course_utils.distributed.is_main()",
    praise="right: rank 0 alone (is_main()); the others only train.",
)

"""``python -m course_utils train``: the notebooks' training as one script, on one or many devices.

On one device::

    python -m course_utils train --model resnet18 --data cifar10 --epochs 30 --out runs/r18

On every GPU of a machine, the same command under ``torchrun``::

    torchrun --standalone --nproc_per_node=4 -m course_utils train --model resnet18 \\
        --data cifar10 --epochs 30 --batch-size 512 --out runs/r18

Under torchrun each process (rank) wraps the model in
``DistributedDataParallel``, reads its share of every batch through a
``DistributedSampler``, and ``fit`` sums the metrics over the ranks; rank 0
alone prints, writes TensorBoard logs, the checkpoint and ``history.json``.
Re-running a command continues from ``--out/checkpoint.pt``. A missing dataset
is downloaded once per machine: local rank 0 fetches it while the other ranks
wait, then they open it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from course_utils import distributed as ddp
from course_utils.checkpoint import CheckpointError, config_differences, load_checkpoint, load_weights, show_setting
from course_utils.config import get_device, is_smoke
from course_utils.data import get_loaders
from course_utils.datasets import (
    IMAGE_SIZE,
    IN_CHANNELS,
    NAMES,
    ChecksumMismatchError,
    DatasetCorruptError,
    DatasetNotFoundError,
)
from course_utils.fast import prepare_model
from course_utils.models import CifarResNet, MnistResNet, SequentialCNN, resnet18
from course_utils.train import TrainingDivergedError, evaluate, fit, one_cycle

MODELS = ("sequential_cnn", "mnist_resnet", "cifar_resnet20", "resnet18")
#: The optimizer each model trains best with, as in its notebook.
DEFAULT_OPTIMIZER = {"sequential_cnn": "adam", "mnist_resnet": "adam",
                     "cifar_resnet20": "sgd", "resnet18": "sgd"}
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3}


class UsageError(ValueError):
    """A combination of options that cannot work; the message says which and why."""


def whole_number(minimum: int):
    """An argparse ``type``: an int of at least ``minimum``, else argparse's own error (exit 2).

    >>> whole_number(1)("3")
    3
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}, not {text}")
        return value
    return parse


def positive_number(text: str) -> float:
    """An argparse ``type``: a finite number above 0, such as a learning rate.

    >>> positive_number("1e-3")
    0.001
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number above 0 (such as 0.1 or 1e-3), not {text}")
    return value


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "train",
        allow_abbrev=False,  # options only as written: --data is never taken for --data-dir
        help=help,
        description=(
            "Train one of the course's models with course_utils.train.fit: progress, a checkpoint "
            "after every epoch, TensorBoard logs and, at the end, OUT/history.json with the "
            "per-epoch history and the test accuracy of the chosen model. With --val N, N training "
            "images are held out and the best epoch is chosen on them; without it, the last epoch "
            "is the chosen model. Re-running the same command continues "
            "from OUT/checkpoint.pt. Under torchrun the same command trains with "
            "DistributedDataParallel: --batch-size is the global batch, split evenly over the "
            "processes; only rank 0 prints and writes."
        ),
        epilog=(
            "examples:\n"
            "  python -m course_utils train --model mnist_resnet --data mnist --epochs 3 --out runs/mnist\n"
            "  python -m course_utils train --model resnet18 --data cifar10 --epochs 30 "
            "--batch-size 512 --out runs/r18\n"
            "  torchrun --standalone --nproc_per_node=4 -m course_utils train --model resnet18 "
            "--data cifar10 --epochs 30 --batch-size 512 --out runs/r18\n"
            "  # two machines, 8 GPUs each: the same command on both (c10d assigns the ranks):\n"
            "  torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d "
            "--rdzv_endpoint=HOST0:29400 --rdzv_id=r18 -m course_utils train ..."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, choices=MODELS, help="the network to train")
    p.add_argument("--data", required=True, choices=NAMES, help="the dataset")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for checkpoint.pt, tensorboard/ and history.json")
    p.add_argument("--epochs", type=whole_number(1), default=10,
                   help="total epochs, counting resumed ones (default 10); an Adam run may be continued "
                        "with more, an SGD run's one-cycle schedule is planned for exactly this many")
    p.add_argument("--batch-size", type=whole_number(1), default=128, metavar="N",
                   help="global batch: under torchrun each of the W processes reads N/W (default 128)")
    p.add_argument("--lr", type=positive_number, default=None,
                   help="learning rate (peak of the one-cycle schedule for SGD); default 0.1 for "
                        "SGD, 1e-3 for Adam")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=None,
                   help="sgd: momentum 0.9, weight decay 5e-4 and a one-cycle schedule; adam: "
                        "constant lr. Default: sgd for cifar_resnet20 and resnet18, adam otherwise")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crops (and flips where they keep the class); default on for cifar10")
    p.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default="auto",
                   help="mixed precision: auto = bf16 or fp16 on a GPU, off on the CPU (default auto)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, mps (default: the fastest; under torchrun cuda:LOCAL_RANK)")
    p.add_argument("--fast", action="store_true",
                   help="keep the dataset on the device as uint8 and make (augmented) batches there "
                        "(get_loaders(..., on_device=True)), and set the model up with prepare_model "
                        "(channels_last on CUDA): much faster on a GPU; --workers is then ignored")
    p.add_argument("--subset", type=whole_number(1), default=None, metavar="N",
                   help="use only the first N training and test images (quick experiments)")
    p.add_argument("--val", type=whole_number(1), default=None, metavar="N",
                   help="hold out N training images as a validation split and keep the epoch with "
                        "the best validation accuracy as the chosen model (e.g. 5000 for CIFAR-10)")
    p.add_argument("--workers", type=whole_number(0), default=None, metavar="N",
                   help="DataLoader worker processes per rank (default: 0 on 2 cores, up to 4)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the weights and the shuffle: same seed, same run (default 0)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from OUT/checkpoint.pt when it exists (default), as the run it was: "
                        "other settings (--model, --data, --optimizer, --lr, --batch-size, --seed, ...) "
                        "are refused before training. --no-resume starts afresh and overwrites "
                        "OUT/checkpoint.pt and OUT/history.json; nothing else in OUT is deleted")
    p.add_argument("--stop-after", type=whole_number(1), default=None, metavar="EPOCH",
                   help="stop after this epoch, as if interrupted (the schedule still plans for "
                        "--epochs); run again without it to continue")
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                   help="write TensorBoard logs to OUT/tensorboard (default on)")
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                   help="where the datasets are (default: COURSE_DATA_DIR, or data/)")
    p.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="download a missing dataset (default); --no-download fails instead")
    p.add_argument("--allow-partial", action="store_true",
                   help="accept a partial copy of CIFAR-10, such as the course's sample data "
                        "(smoke mode, COURSE_SMOKE=1, does so)")
    p.add_argument("--dist-timeout", type=positive_number, default=ddp.DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="under torchrun, how long the processes wait for one that stopped "
                        "answering (frozen, or busy for longer) before they stop and say which "
                        f"rank it was (default {ddp.DEFAULT_TIMEOUT:g}: ten minutes)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # --device cpu on a GPU machine (or a notebook demo on one GPU): CPU processes talk through gloo
    cpu = args.device is not None and args.device.startswith("cpu")
    rank, world_size, local_rank = ddp.init_from_env(backend="gloo" if cpu else None,
                                                     timeout=args.dist_timeout)
    where = f"[rank {rank}] " if world_size > 1 else ""
    try:
        return _train(args, rank, world_size, local_rank)
    except (UsageError, DatasetNotFoundError, DatasetCorruptError, CheckpointError,
            TrainingDivergedError) as err:
        if ddp.is_main() or not isinstance(err, UsageError):  # usage errors: say it once
            print(f"{where}error: {explain(err)}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1
    except OSError as err:  # writing a checkpoint or a log into --out: a full disk, say
        if not isinstance(err.filename, str) or not Path(err.filename).resolve().is_relative_to(
                args.out.resolve()):
            raise  # not about --out: not ours to explain
        print(f"{where}error: cannot write {err.filename} ({err.strerror or err}): free some "
              "space, or choose another --out; rerunning the command continues from the last "
              "checkpoint", file=sys.stderr)
        return 1
    except RuntimeError as err:  # a collective waited --dist-timeout for a rank and gave up
        if world_size == 1 or not ddp.is_timeout_error(err):
            raise
        silent = ddp.silent_ranks(wait=min(args.dist_timeout, ddp.ROLL_CALL_WAIT))
        speaker = min(set(range(world_size)) - set(silent or []), default=rank)  # lowest one left
        if silent is None or rank == speaker:  # the roll call failed: each rank says what it can
            checkpoint = args.out / "checkpoint.pt"
            resume = (f"it continues from {checkpoint}" if checkpoint.is_file()
                      else f"nothing was saved in {args.out} yet, so it starts over")
            print(f"{where}error: {ddp.timeout_message(silent, args.dist_timeout)} If it was only "
                  f"busy, raise --dist-timeout. Re-run the same command to resume: {resume}.",
                  file=sys.stderr)
        return 1
    finally:
        ddp.cleanup()


def explain(err: Exception) -> str:
    """What went wrong and what to do, in this command's words (its options, not Python arguments).

    The data errors carry their facts (``name``, ``root``, ``missing``, ``cause``), so the
    advice is written here from them; other errors already speak for themselves.
    """
    if isinstance(err, DatasetNotFoundError) and err.name is not None:
        why = ("--no-download was passed" if err.cause is None
               else f"downloading failed ({err.cause})")
        return (f"{err.name} is not in {err.root} (missing: {', '.join(err.missing)}), and {why}. "
                f"Stage it on a machine with internet with python -m course_utils fetch-data "
                f"{err.name} (--to DIR, then fetch-data --from DIR here), or point --data-dir "
                "(or COURSE_DATA_DIR) at a staged copy.")
    if isinstance(err, ChecksumMismatchError) and err.name is not None:
        return (f"the {err.name} copy in {err.root} is incomplete or corrupt ({err.cause}). To read "
                "it as a partial sample, such as the course's sample data, add --allow-partial; "
                f"for real runs stage the full set with python -m course_utils fetch-data {err.name}.")
    if isinstance(err, DatasetCorruptError) and err.name is not None:
        return (f"{err}\nFrom the command line: python -m course_utils fetch-data {err.name} "
                "stages a fresh copy (python -m course_utils doctor checks one).")
    if isinstance(err, CheckpointError):
        return (f"{err}\nFrom the command line: --no-resume starts afresh (replacing "
                "checkpoint.pt and history.json), or choose a new --out.")
    return str(err)


def _train(args: argparse.Namespace, rank: int, world_size: int, local_rank: int) -> int:
    _check_args(args)
    _check_out(args.out)
    device = _device(args.device, world_size, local_rank)
    batch = _split_batch(args.batch_size, world_size)
    optimizer_name = args.optimizer or DEFAULT_OPTIMIZER[args.model]
    lr = args.lr if args.lr is not None else DEFAULT_LR[optimizer_name]
    checkpoint = args.out / "checkpoint.pt"
    settings = run_settings(args, optimizer_name, lr)
    if args.resume:
        check_same_run(checkpoint, settings)
    if not args.resume and checkpoint.is_file() and ddp.is_main():
        print(f"--no-resume: starting over; the checkpoint in {args.out} will be replaced.")
    ddp.barrier()  # rank 0 has looked at the old checkpoint before anyone may write

    train_loader, val_loader, test_loader = make_loaders(args, batch, rank, world_size, device, local_rank)
    torch.manual_seed(args.seed)  # same initial weights on every rank (DDP also copies rank 0's)
    model = build_model(args.model, args.data).to(device)
    if args.fast:  # channels_last and cudnn.benchmark on CUDA, before DDP wraps the model
        model = prepare_model(model, device)
    if world_size > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer, scheduler = make_optimizer(model, optimizer_name, lr, args.epochs, len(train_loader))

    if ddp.is_main():
        stop = f" (stopping after epoch {args.stop_after})" if args.stop_after else ""
        print(f"Training {args.model} on {args.data} ({len(train_loader)} steps per epoch) "
              f"for {args.epochs} epochs{stop} on {world_size} process(es), device {device}, "
              f"batch {args.batch_size} ({batch} per process), {optimizer_name} lr {lr:g}.")
    history = fit(model, train_loader, val_loader,
                  epochs=min(args.epochs, args.stop_after or args.epochs),
                  optimizer=optimizer, scheduler=scheduler,
                  scheduler_interval="batch" if scheduler is not None else "epoch",
                  device=device, amp=False if args.amp == "off" else args.amp,
                  checkpoint=checkpoint, resume=args.resume, settings=settings,
                  log_dir=args.out / "tensorboard" if args.tensorboard else None)

    _test_and_report(args, model, history, val_loader is not None, test_loader, device, world_size)
    return 0


def _test_and_report(args: argparse.Namespace, model: nn.Module, history, validated: bool,
                     test_loader, device: torch.device, world_size: int) -> None:
    """Score the chosen epoch on the test set, once; rank 0 writes OUT/history.json and says so."""
    checkpoint = args.out / "checkpoint.pt"
    fingerprints = ddp.all_gather_objects(ddp.weights_fingerprint(model))
    chosen = history.best_epoch()
    if validated:  # the epoch chosen on validation data, from the checkpoint
        ddp.barrier()  # rank 0 has written it
        load_weights(ddp.unwrap(model), checkpoint)
    test = evaluate(model, test_loader, device=device, amp=False if args.amp == "off" else args.amp)
    if ddp.is_main():
        summary = {
            "history": {column: [None if v != v else v for v in values]  # NaN is not JSON: null
                        for column, values in history.to_dict().items()},
            "chosen_epoch": chosen,
            "chosen_on": "validation accuracy" if validated else "last epoch",
            "test_accuracy": test["accuracy"],
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k != "run"},
            "world_size": world_size,
            "device": str(device),
            "weights_sha256": fingerprints,  # one per rank: equal when the ranks stayed in step
        }
        (args.out / "history.json").write_text(json.dumps(summary, indent=1))
        same = ""
        if world_size > 1:
            same = ("weights identical on all ranks; " if len(set(fingerprints)) == 1
                    else "weights DIFFERENT across ranks; ")
        print(f"Test accuracy {test['accuracy']:.2%} of epoch {chosen} ({summary['chosen_on']}), "
              f"after {len(history)} epoch(s); {same}wrote {args.out / 'history.json'}.")


def _check_args(args: argparse.Namespace) -> None:
    # each number's own range (--epochs at least 1, ...) is checked by argparse: see whole_number
    if args.model == "mnist_resnet" and IMAGE_SIZE[args.data] != 28:
        raise UsageError(f"mnist_resnet is built for 28x28 grey images (mnist, fashion_mnist), "
                         f"not {args.data}; for {args.data} use cifar_resnet20 or resnet18.")
    if args.model == "sequential_cnn" and args.data != "cifar10":
        raise UsageError(f"sequential_cnn is built for 32x32 colour images (cifar10), not "
                         f"{args.data}; for {args.data} use mnist_resnet.")


def _check_out(out: Path) -> None:
    """``--out`` must be a folder, or a path where one can be made, that this process may write in.

    Better to find out now than when the first checkpoint is written, an epoch later.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; --out names a folder (for checkpoint.pt, "
                         "tensorboard/ and history.json): choose another path.")
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())  # made by fit if new
    if not existing.is_dir():
        raise UsageError(f"--out {out} cannot be made: {existing} is a file, not a folder; "
                         "choose another path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: no permission to write in {existing}; choose a folder "
                         "you can write to.")


def _device(choice: str | None, world_size: int, local_rank: int) -> torch.device:
    """``--device``, else one GPU per process under torchrun, else the fastest device here."""
    if choice is None and world_size > 1 and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    try:
        device = get_device(choice)
    except (RuntimeError, ValueError) as err:
        raise UsageError(str(err)) from err
    if world_size > 1 and device.type == "mps":
        return torch.device("cpu")  # gloo cannot communicate MPS tensors
    if world_size > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)  # --device cuda: each process its own GPU
    return device


def _split_batch(global_batch: int, world_size: int) -> int:
    try:
        return ddp.per_rank_batch_size(global_batch, world_size)
    except ValueError as err:
        raise UsageError(str(err)) from err


def build_model(name: str, data: str) -> nn.Module:
    """A fresh model for ``data`` (its number of input channels)."""
    channels = IN_CHANNELS[data]
    if name == "sequential_cnn":
        return SequentialCNN(relu=True)
    if name == "mnist_resnet":
        return MnistResNet()
    if name == "cifar_resnet20":
        return CifarResNet(20, in_channels=channels)
    return resnet18(in_channels=channels)


def make_loaders(args: argparse.Namespace, batch: int, rank: int, world_size: int,
                 device: torch.device, local_rank: int = 0) -> tuple:
    """Training, validation (``None`` without ``--val``) and test loaders for this rank.

    ``get_loaders`` with the options: each rank reads its own share (see there),
    ``--fast`` makes the batches on the device. Local rank 0 opens (and, if need
    be, downloads) the dataset first, then the other ranks open what it fetched.
    """
    augment = args.augment if args.augment is not None else args.data == "cifar10"
    with local_rank_0_first(local_rank) as first:
        loaders = get_loaders(args.data, batch, on_device=args.fast, subset=args.subset,
                              val_size=args.val, augment=augment, seed=args.seed,
                              root=args.data_dir, download=args.download and first,
                              allow_partial=args.allow_partial, num_workers=args.workers,
                              device=device, rank=rank, world_size=world_size)
    return (loaders[0], None, loaders[1]) if args.val is None else loaders


@contextlib.contextmanager
def local_rank_0_first(local_rank: int) -> Iterator[bool]:
    """Run the ``with`` block on each machine's local rank 0 first, then on its other ranks.

    Local rank 0 can download a missing dataset while the others wait at a barrier:
    several processes downloading into one folder at once would trip over
    each other. The block gets True on local rank 0. With one process there
    is nothing to wait for (``ddp.barrier`` does nothing).
    """
    if local_rank != 0:
        ddp.barrier()  # wait until local rank 0 has finished the block
    try:
        yield local_rank == 0
    finally:  # even when the download failed: the others then fail on their own, not hang
        if local_rank == 0:
            ddp.barrier()  # done: let the other ranks in


def make_optimizer(model: nn.Module, name: str, lr: float, epochs: int, steps_per_epoch: int):
    """SGD (momentum 0.9, weight decay 5e-4) with the course's ``one_cycle`` schedule, or plain Adam."""
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr), None
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4,
                                nesterov=True)
    return optimizer, one_cycle(optimizer, lr, epochs=epochs, steps_per_epoch=steps_per_epoch)


def run_settings(args: argparse.Namespace, optimizer: str, lr: float) -> dict[str, object]:
    """The options that make a run what it is, as saved in its checkpoint, by option name.

    A resumed run must have the same ones. Where it runs may change (--device, --amp,
    --workers, the number of processes: the same run, computed elsewhere), and so may
    --epochs for Adam, to train on; SGD's one-cycle schedule is planned for --epochs,
    so there it is part of the run. Smoke mode shrinks the data, so it counts too.
    """
    settings = {"--model": args.model, "--data": args.data, "--optimizer": optimizer, "--lr": lr,
                "--batch-size": args.batch_size, "--seed": args.seed, "--subset": args.subset,
                "--val": args.val, "--augment": args.augment if args.augment is not None else args.data == "cifar10",
                "--fast": args.fast, "COURSE_SMOKE": is_smoke()}
    if optimizer == "sgd":
        settings["--epochs"] = args.epochs
    return settings


def check_same_run(checkpoint: Path, settings: dict[str, object]) -> None:
    """Refuse, before anything is loaded or trained, to resume ``checkpoint`` with other ``settings``.

    One ``UsageError`` lists each difference (``--lr: 0.001 -> 0.01``) and the ways
    out: the saved options, which continue that run, or ``--no-resume`` / a new
    ``--out``, which start another. A checkpoint saved before options were recorded
    is left to ``fit``'s own check (optimizer, model, batch size).
    """
    if not checkpoint.is_file():
        return
    saved = (load_checkpoint(checkpoint).get("config") or {}).get("settings")
    differences = config_differences(saved or {}, settings)
    if not differences:
        return
    lines = "".join(f"\n  {name}: {_show(old)} -> {_show(new)}" for name, old, new in differences)
    schedule = ("\nSGD's one-cycle schedule is planned for --epochs: that run cannot be made longer "
                "or shorter." if any(name == "--epochs" for name, _, _ in differences) else "")
    give = [_as_option(name, old) for name, old, _ in differences]
    leave = [name for (name, _, _), option in zip(differences, give) if option is None]
    back = " and ".join(filter(None, [" ".join(filter(None, give)),
                                      "without " + ", ".join(leave) if leave else ""]))
    raise UsageError(
        f"{checkpoint} holds a run with other settings (setting: saved -> now):{lines}{schedule}\n"
        f"A run continues only as the run it was. To continue it, re-run with {back}; to start "
        f"afresh, add --no-resume (overwrites {checkpoint.name} and history.json in "
        f"{checkpoint.parent}) or choose a new --out."
    )


def _show(value: object) -> str:
    """A saved option's value as this command shows it: ``off`` for False, ``(not given)`` for None."""
    if value is None:
        return "(not given)"
    if isinstance(value, bool):
        return "on" if value else "off"
    return show_setting(value)


def _as_option(name: str, value: object) -> str | None:
    """What gives ``name`` back its saved ``value`` (``--lr 0.001``, ``--no-augment``), or
    None when that is leaving the option out (``--subset`` not given, ``--fast`` off)."""
    if name == "COURSE_SMOKE":
        return "in smoke mode (COURSE_SMOKE=1)" if value else None
    if name == "--augment" and isinstance(value, bool):
        return "--augment" if value else "--no-augment"
    if value is None or value is False:
        return None
    return name if value is True else f"{name} {show_setting(value)}"

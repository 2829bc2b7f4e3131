"""How fast does ResNet-18 train on this machine? Three training loops and two data pipelines.

Run it on any device (CPU, CUDA, MPS), from the repository root::

    python bench/train_speed.py                    # the full measurement (GPU: a minute or two)
    python bench/train_speed.py --quick            # a CPU-sized run, under a minute
    python bench/train_speed.py --json speed.json  # also write the figures as JSON

Everything runs in one process on one device, on synthetic CIFAR-sized images
(uint8, 3x32x32, random pixels and labels: no download, and speed does not
depend on what the pixels show). It measures images per second of:

* data pipelines alone, making augmented batches (random crop + flip, normalised)
  on the device: ``pil``, a ``DataLoader`` applying torchvision transforms to one
  PIL image at a time (``course_utils.datasets.get_transforms``), then ``.to(device)``;
  ``fast``, ``course_utils.data.DeviceLoader``;
* training ResNet-18 (CIFAR stem), SGD with momentum:
  ``plain``, the loop the common tutorials write (PIL DataLoader with two workers,
  ``.to(device)`` each batch, ``loss.item()`` each batch, float32);
  ``course_utils``, ``course_utils.train.fit`` with that standard loader (amp="auto");
  ``fast``, ``fit`` with ``DeviceLoader``, ``prepare_model`` (channels_last and
  cudnn.benchmark on CUDA), amp="auto", and ``torch.compile`` with ``--compile``.

Each training figure is the second of two epochs of ``--steps`` batches: the first
warms up (cuDNN's algorithm search, worker start-up, compilation).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import course_utils
from course_utils.config import get_device
from course_utils.data import DeviceLoader, default_num_workers
from course_utils.datasets import MEAN, STD, get_transforms
from course_utils.fast import autocast_dtype, device_name, prepare_model, sync
from course_utils.models import resnet18
from course_utils.train import fit


class PILImages(Dataset):
    """Synthetic images served like ``torchvision.datasets.CIFAR10``: a PIL image per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.pixels = images.permute(0, 2, 3, 1).numpy()  # (N, H, W, C), as CIFAR10 stores them
        self.labels, self.transform = labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.pixels[i])), self.labels[i]


def synthetic(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
            torch.randint(0, 10, (n,), generator=g))


def pil_loader(images, labels, batch_size: int, tutorial: bool = False) -> DataLoader:
    """The standard loader, built as ``get_loaders`` builds it (or as the PyTorch tutorial does)."""
    dataset = PILImages(images, labels, get_transforms("cifar10", train=True, augment=True))
    if tutorial:  # the CIFAR-10 tutorial of pytorch.org: two workers, no pinned memory
        return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=2)
    workers = default_num_workers()
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0)


def device_loader(images, labels, batch_size: int, device, channels_last: bool) -> DeviceLoader:
    return DeviceLoader(images, labels, batch_size=batch_size, mean=MEAN["cifar10"], std=STD["cifar10"],
                        device=device, shuffle=True, augment=True, channels_last=channels_last)


def time_pipeline(loader, device, epochs: int = 2) -> float:
    """Images per second of one pass over ``loader`` (after a warm-up pass), batches on ``device``."""
    for _ in range(epochs):
        sync(device)
        start, n = time.perf_counter(), 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            n += len(y)
        sync(device)
    return n / (time.perf_counter() - start)


def new_model_and_optimizer(device, prepare=False, compile=False):
    """ResNet-18 and SGD; ``prepare``: the fast path's ``prepare_model`` (its cudnn.benchmark stays on)."""
    torch.manual_seed(0)
    model = resnet18(num_classes=10, stem="cifar")
    model = prepare_model(model, device, compile=compile) if prepare else model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    return model, optimizer


def train_plain(loader, device, epochs: int = 2) -> float:
    """The tutorial loop: float32, ``.to(device)`` and ``loss.item()`` every batch."""
    model, optimizer = new_model_and_optimizer(device)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        sync(device)
        start, n, running_loss = time.perf_counter(), 0, 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()  # waits for the GPU, every batch
            n += len(y)
        sync(device)
    return n / (time.perf_counter() - start)


def train_fit(loader, device, *, prepare=False, compile=False, epochs: int = 2) -> float:
    """``course_utils.train.fit``; its own timing of the last epoch (which ends with a sync)."""
    model, optimizer = new_model_and_optimizer(device, prepare=prepare, compile=compile)
    history = fit(model, loader, epochs=epochs, optimizer=optimizer, device=device, amp="auto",
                  progress=False)
    return history.examples_per_s[-1]


def versions(device: torch.device) -> dict[str, str]:
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__,
            "course_utils": course_utils.__version__,
            "platform": platform.platform(), "cpu_threads": str(torch.get_num_threads())}
    if device.type == "cuda":
        info["cuda"] = str(torch.version.cuda)
        info["cudnn"] = str(torch.backends.cudnn.version())
    return info


def load_average() -> float | None:
    """How busy the machine was (Unix only): figures taken beside other jobs are lower."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="CPU-sized: small batches and few steps (under a minute on a laptop CPU)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the fastest here)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="training batch (default 512; quick: 16)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training batches per timed epoch (default 98: a full CIFAR-10 epoch of 50,176 images at 512; quick: 2)")
    parser.add_argument("--pipeline-images", type=int, default=None,
                        help="images per data-pipeline pass (default 50,000; quick: 4,096)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice; 1 helps on a busy machine)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the fast path's model")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    batch_size = args.batch_size or (16 if args.quick else 512)
    steps = args.steps or (2 if args.quick else 98)
    pipeline_n = args.pipeline_images or (4096 if args.quick else 50_000)
    channels_last = device.type == "cuda"
    amp = autocast_dtype(device, "auto")

    print(f"device: {device_name(device)}")
    for name, version in versions(device).items():
        print(f"{name}: {version}")
    load_at_start = load_average()  # the one printed and saved: later readings include our own work
    print(f"load average (1 min, other programs slow the figures down): {load_at_start}")
    print(f"ResNet-18 (CIFAR stem), 3x32x32 synthetic images; training batch {batch_size}, "
          f"{steps} timed steps; mixed precision for fit: {amp or 'none (float32)'}")

    images, labels = synthetic(max(pipeline_n, batch_size * steps))
    pipeline = {
        "pil": time_pipeline(pil_loader(images[:pipeline_n], labels[:pipeline_n], 512), device),
        "fast": time_pipeline(device_loader(images[:pipeline_n], labels[:pipeline_n], 512, device,
                                            channels_last), device),
    }
    print(f"data pipeline, augmented batches of 512 ({pipeline_n:,} images):")
    print(f"  pil   {pipeline['pil']:>12,.0f} images/s")
    print(f"  fast  {pipeline['fast']:>12,.0f} images/s  ({pipeline['fast'] / pipeline['pil']:.1f}x pil)")

    train_x, train_y = images[:batch_size * steps], labels[:batch_size * steps]
    train = {
        "plain": train_plain(pil_loader(train_x, train_y, batch_size, tutorial=True), device),
        "course_utils": train_fit(pil_loader(train_x, train_y, batch_size), device),
        "fast": train_fit(device_loader(train_x, train_y, batch_size, device, channels_last), device,
                          prepare=True, compile=args.compile),
    }
    print(f"training ResNet-18 ({batch_size * steps:,} images per epoch, second epoch timed):")
    for name, value in train.items():
        print(f"  {name:<13}{value:>10,.1f} images/s  ({value / train['plain']:.2f}x plain)")

    result = {
        "device": device_name(device), "device_type": device.type, "versions": versions(device),
        "date": date.today().isoformat(),
        "command": " ".join(["python", "bench/train_speed.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {"batch_size": batch_size, "steps": steps, "pipeline_images": pipeline_n,
                     "pipeline_batch_size": 512, "amp": str(amp), "channels_last": channels_last,
                     "compile": args.compile,
                     "num_workers": {"plain": 2, "standard": default_num_workers()},
                     "threads": torch.get_num_threads(), "load_average_1min": load_at_start},
        "data_pipeline_images_per_s": pipeline,
        "train_images_per_s": train,
        "ratios": {"data_pipeline_fast_over_pil": pipeline["fast"] / pipeline["pil"],
                   "train_fast_over_plain": train["fast"] / train["plain"],
                   "train_course_utils_over_plain": train["course_utils"] / train["plain"]},
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()

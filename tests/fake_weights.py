"""A stand-in for torchvision's ImageNet weights of ResNet-18, in the real file format.

The real file (``resnet18-f37072fd.pth``, 47 MB) cannot be downloaded where the tests
run, so tests write a state dict of their own: ``torch.save`` of a freshly
initialised ``torchvision.models.resnet18()``, the format torchvision's file has. Its
SHA-256 is not the published one: tests of the checks that compare hashes patch
``course_utils.pretrained.SHA256`` and ``SIZE_BYTES`` with the stand-in's own
(``official_as``), so the same code paths run. What a model does with these weights
says nothing about ImageNet features.

>>> path = write_resnet18_weights(tmp_path / "resnet18.pth")  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torchvision


def write_resnet18_weights(path: Path, seed: int = 0) -> Path:
    """Save a seeded, randomly initialised ResNet-18 state dict at ``path``."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def official_as(monkeypatch, path: Path) -> None:
    """Make ``course_utils.pretrained`` take the file at ``path`` for torchvision's published one."""
    from course_utils import pretrained

    monkeypatch.setattr(pretrained, "SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setattr(pretrained, "SIZE_BYTES", path.stat().st_size)

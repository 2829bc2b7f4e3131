"""Data parallelism: course_utils.distributed, and `train` under torchrun (2 CPU processes, gloo)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from course_utils import distributed as ddp
from course_utils.checkpoint import load_checkpoint, load_weights
from course_utils.models import MnistResNet
from course_utils.train import fit

# ---------------------------------------------------------------------------
# The helpers, in one process
# ---------------------------------------------------------------------------


def test_without_torchrun_the_world_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert ddp.init_from_env() == (0, 1, 0)
    assert ddp.is_main() and ddp.get_world_size() == 1 and not ddp.is_distributed()
    assert ddp.all_reduce_sum(torch.tensor(7)).item() == 7
    assert ddp.all_gather_objects("x") == ["x"]


def test_gloo_is_the_backend_on_a_machine_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the backend is nccl")
    assert ddp.default_backend() == "gloo"


def test_per_rank_batch_splits_the_global_batch_evenly():
    assert ddp.per_rank_batch_size(512, 4) == 128
    assert ddp.per_rank_batch_size(64, 1) == 64


def test_a_batch_that_does_not_split_evenly_is_refused_with_a_multiple():
    with pytest.raises(ValueError, match="does not split evenly over 3 processes.*multiple of 3"):
        ddp.per_rank_batch_size(128, 3)


def test_unwrap_returns_the_plain_model():
    model = nn.Linear(2, 2)
    assert ddp.unwrap(model) is model


def test_weights_fingerprint_tells_equal_weights_from_different_ones():
    torch.manual_seed(0)
    a = MnistResNet()
    b = MnistResNet()
    b.load_state_dict(a.state_dict())
    assert ddp.weights_fingerprint(a) == ddp.weights_fingerprint(b)
    with torch.no_grad():
        b.fc.bias[0] += 1e-6
    assert ddp.weights_fingerprint(a) != ddp.weights_fingerprint(b)


class EpochRecordingLoader(list):
    """A loader that remembers the epochs ``fit`` announced with ``set_epoch``."""

    epochs: list[int]

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_fit_calls_set_epoch_each_epoch_so_the_shuffle_changes():
    loader = EpochRecordingLoader([(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))])
    loader.epochs = []
    fit(nn.Linear(3, 2), loader, epochs=3, device="cpu", progress=False)
    assert loader.epochs == [1, 2, 3]


def test_fit_calls_set_epoch_on_a_distributed_sampler():
    data = torch.utils.data.TensorDataset(torch.randn(8, 3), torch.randint(0, 2, (8,)))
    sampler = torch.utils.data.DistributedSampler(data, num_replicas=1, rank=0, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=4, sampler=sampler)
    fit(nn.Linear(3, 2), loader, epochs=2, device="cpu", progress=False)
    assert sampler.epoch == 2


# ---------------------------------------------------------------------------
# The train command under torchrun: two CPU processes talking through gloo
# ---------------------------------------------------------------------------

TINY = ["--model", "mnist_resnet", "--data", "mnist", "--subset", "256", "--batch-size", "64",
        "--no-download", "--no-tensorboard", "--workers", "0"]


def torchrun(out, *extra, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 -m course_utils train ...``, one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("COURSE_SMOKE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "course_utils", "train", *TINY, "--out", str(out),
               *extra]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_local_rank_0_downloads_first_then_the_other_ranks_only_open(monkeypatch):
    from course_utils.cli import build_parser
    from course_utils.commands import train as command

    events = []
    images = torch.utils.data.TensorDataset(torch.zeros(8, 1, 28, 28), torch.zeros(8, dtype=torch.long))

    def get_datasets(name, *, download, **kwargs):
        events.append(f"open, download={download}")
        return images, images

    monkeypatch.setattr(command, "get_datasets", get_datasets)
    monkeypatch.setattr(command.ddp, "barrier", lambda: events.append("barrier"))
    args = build_parser("train").parse_args(["train", *TINY, "--download", "--out", "unused"])
    for rank in (0, 1):  # what each of two processes does, one after the other
        command.make_loaders(args, 4, rank, 2, torch.device("cpu"), local_rank=rank)
    assert events == ["open, download=True", "barrier",   # rank 0: download, then let the others in
                      "barrier", "open, download=False"]  # rank 1: wait, then open what is there


def test_a_failed_download_on_local_rank_0_still_lets_the_other_ranks_go_on(monkeypatch):
    from course_utils.cli import build_parser
    from course_utils.commands import train as command
    from course_utils.data import DatasetNotFoundError

    events = []

    def get_datasets(name, *, download, **kwargs):
        events.append(f"open, download={download}")
        raise DatasetNotFoundError("no network")

    monkeypatch.setattr(command, "get_datasets", get_datasets)
    monkeypatch.setattr(command.ddp, "barrier", lambda: events.append("barrier"))
    args = build_parser("train").parse_args(["train", *TINY, "--download", "--out", "unused"])
    with pytest.raises(DatasetNotFoundError):
        command.make_loaders(args, 4, 0, 2, torch.device("cpu"), local_rank=0)
    assert events == ["open, download=True", "barrier"]  # rank 1, waiting there, is let go


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """Two epochs on two processes, uninterrupted, with TensorBoard logs."""
    from conftest import require_data
    require_data("mnist")
    out = tmp_path_factory.mktemp("straight")
    result = torchrun(out, "--epochs", "2", "--tensorboard")
    return out, result


@pytest.mark.slow
def test_two_processes_train_and_end_with_identical_weights(straight_run):
    out, _ = straight_run
    summary = json.loads((out / "history.json").read_text())
    assert summary["world_size"] == 2
    assert len(summary["weights_sha256"]) == 2
    assert summary["weights_sha256"][0] == summary["weights_sha256"][1]


@pytest.mark.slow
def test_two_processes_the_loss_falls(straight_run):
    out, _ = straight_run
    history = json.loads((out / "history.json").read_text())["history"]
    assert history["epoch"] == [1, 2]
    assert history["train_loss"][1] < history["train_loss"][0]
    # the metrics are global: 256 training images counted over both ranks, not 128 per rank
    assert history["examples_per_s"][0] * history["seconds"][0] == pytest.approx(256, rel=1e-3)


@pytest.mark.slow
def test_only_rank_0_writes_one_checkpoint_and_prints(straight_run):
    out, result = straight_run
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "history.json", "tensorboard"]
    assert result.stdout.count("Training mnist_resnet") == 1
    assert result.stdout.count("epoch 2/2  train loss") == 1
    load_weights(MnistResNet(), out / "checkpoint.pt")  # no DDP "module." prefix: loads into a plain model


@pytest.mark.slow
def test_only_rank_0_writes_tensorboard_logs(straight_run):
    out, _ = straight_run
    events = [p for p in (out / "tensorboard").rglob("*") if p.is_file()]
    assert len(events) == 1 and events[0].name.startswith("events.out.tfevents."), events


@pytest.mark.slow
def test_interrupted_after_one_epoch_resumes_to_the_same_result(straight_run, tmp_path):
    straight, _ = straight_run
    torchrun(tmp_path, "--epochs", "2", "--stop-after", "1")
    assert json.loads((tmp_path / "history.json").read_text())["history"]["epoch"] == [1]
    result = torchrun(tmp_path, "--epochs", "2")
    assert "Resuming from" in result.stdout
    a = json.loads((straight / "history.json").read_text())
    b = json.loads((tmp_path / "history.json").read_text())
    assert b["history"]["train_loss"] == pytest.approx(a["history"]["train_loss"], rel=1e-6)
    assert b["test_accuracy"] == a["test_accuracy"]
    assert b["weights_sha256"][0] == b["weights_sha256"][1]
    wa = load_checkpoint(straight / "checkpoint.pt")["model"]
    wb = load_checkpoint(tmp_path / "checkpoint.pt")["model"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)

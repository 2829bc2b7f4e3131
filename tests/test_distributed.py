"""Data parallelism: course_utils.distributed, and `train` under torchrun (2 CPU processes, gloo)."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

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


def torchrun(out, *extra, data: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 -m course_utils train ...`` on the datasets in ``data``,
    one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_DATA_DIR": str(data)}
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

    def get_loaders(name, batch_size, *, download, **kwargs):
        events.append(f"open, download={download}")
        return [], []

    monkeypatch.setattr(command, "get_loaders", get_loaders)
    monkeypatch.setattr(command.ddp, "barrier", lambda: events.append("barrier"))
    args = build_parser("train").parse_args(["train", *TINY, "--download", "--out", "unused"])
    for rank in (0, 1):  # what each of two processes does, one after the other
        command.make_loaders(args, 4, rank, 2, torch.device("cpu"), local_rank=rank)
    assert events == ["open, download=True", "barrier",   # rank 0: download, then let the others in
                      "barrier", "open, download=False"]  # rank 1: wait, then open what is there


def test_a_failed_download_on_local_rank_0_still_lets_the_other_ranks_go_on(monkeypatch):
    from course_utils.cli import build_parser
    from course_utils.commands import train as command
    from course_utils.datasets import DatasetNotFoundError

    events = []

    def get_loaders(name, batch_size, *, download, **kwargs):
        events.append(f"open, download={download}")
        raise DatasetNotFoundError("no network")

    monkeypatch.setattr(command, "get_loaders", get_loaders)
    monkeypatch.setattr(command.ddp, "barrier", lambda: events.append("barrier"))
    args = build_parser("train").parse_args(["train", *TINY, "--download", "--out", "unused"])
    with pytest.raises(DatasetNotFoundError):
        command.make_loaders(args, 4, 0, 2, torch.device("cpu"), local_rank=0)
    assert events == ["open, download=True", "barrier"]  # rank 1, waiting there, is let go


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, course_data):
    """Two epochs on two processes, uninterrupted, with TensorBoard logs."""
    out = tmp_path_factory.mktemp("straight")
    result = torchrun(out, "--epochs", "2", "--tensorboard", data=course_data.root)
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
def test_interrupted_after_one_epoch_resumes_to_the_same_result(straight_run, mnist_root, tmp_path):
    straight, _ = straight_run
    torchrun(tmp_path, "--epochs", "2", "--stop-after", "1", data=mnist_root)
    assert json.loads((tmp_path / "history.json").read_text())["history"]["epoch"] == [1]
    result = torchrun(tmp_path, "--epochs", "2", data=mnist_root)
    assert "Resuming from" in result.stdout
    a = json.loads((straight / "history.json").read_text())
    b = json.loads((tmp_path / "history.json").read_text())
    assert b["history"]["train_loss"] == pytest.approx(a["history"]["train_loss"], rel=1e-6)
    assert b["test_accuracy"] == a["test_accuracy"]
    assert b["weights_sha256"][0] == b["weights_sha256"][1]
    wa = load_checkpoint(straight / "checkpoint.pt")["model"]
    wb = load_checkpoint(tmp_path / "checkpoint.pt")["model"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


# ---------------------------------------------------------------------------
# A rank that stops answering: the process group's timeout, and who it was
# ---------------------------------------------------------------------------


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_from_env_gives_the_process_group_its_timeout(monkeypatch):
    import datetime
    seen = {}
    init_process_group = ddp.dist.init_process_group

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return init_process_group(*args, **kwargs)

    monkeypatch.setattr(ddp.dist, "init_process_group", spy)
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    try:
        assert ddp.init_from_env(backend="gloo", timeout=7) == (0, 1, 0)
        assert seen["timeout"] == datetime.timedelta(seconds=7)
        assert ddp.silent_ranks(wait=1) == []  # a world of one: nobody to miss
    finally:
        ddp.cleanup()


def test_the_default_timeout_is_ten_minutes_like_nccls():
    import inspect
    assert ddp.DEFAULT_TIMEOUT == 600
    assert inspect.signature(ddp.init_from_env).parameters["timeout"].default == ddp.DEFAULT_TIMEOUT


def test_a_timeout_that_is_not_positive_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match="more than 0 seconds.*not 0"):
        ddp.init_from_env(timeout=0)


def test_gloos_timeout_errors_are_told_from_other_errors():
    assert ddp.is_timeout_error(RuntimeError(
        "[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 5000ms "
        "for recv operation to complete"))
    assert ddp.is_timeout_error(RuntimeError("Application timeout caused pair closure"))
    assert not ddp.is_timeout_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not ddp.is_timeout_error(ValueError("timed out"))  # not from a collective


def test_the_timeout_message_names_the_silent_rank_or_says_none_is_frozen():
    one = ddp.timeout_message([1], 5)
    assert one.startswith("rank 1 stopped answering") and "5 s" in one
    assert ddp.timeout_message([1, 3], 600).startswith("ranks 1 and 3 stopped answering")
    assert "600 s" in ddp.timeout_message([1, 3], 600)
    assert "every rank answered" in ddp.timeout_message([], 5)
    assert "rank 0" in ddp.timeout_message(None, 5)  # no roll call: its store lives with rank 0


def test_train_has_a_dist_timeout_option_that_defaults_to_ten_minutes():
    from course_utils.cli import build_parser
    args = build_parser("train").parse_args(["train", *TINY, "--out", "unused"])
    assert args.dist_timeout == ddp.DEFAULT_TIMEOUT
    args = build_parser("train").parse_args(["train", *TINY, "--out", "unused", "--dist-timeout", "30"])
    assert args.dist_timeout == 30


def worker_pids(launcher_pid: int) -> dict[int, int]:
    """``{rank: pid}`` of torchrun's worker processes, read from Linux's /proc."""
    pids = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            if parent != launcher_pid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        except (OSError, ValueError, IndexError):
            continue  # not a process, or one that has just ended
        if b"RANK" in env:
            pids[int(env[b"RANK"])] = int(entry)
    return pids


def is_running(pid: int) -> bool:
    """True until ``pid`` has ended (a zombie waiting for torchrun to collect it has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds torchrun's workers in /proc")
def test_a_frozen_rank_is_named_and_the_other_exits_within_the_timeout(mnist_root, tmp_path):
    import signal
    import threading
    import time

    timeout = 4  # seconds: --dist-timeout; the roll call then waits as long again at most
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}  # with mnist_root's COURSE_DATA_DIR
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "course_utils", "train", *TINY, "--out", str(tmp_path), "--epochs", "1000",
               "--dist-timeout", str(timeout)]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
    stdout, stderr = [], []
    for stream, lines in ((launcher.stdout, stdout), (launcher.stderr, stderr)):
        threading.Thread(target=lambda s=stream, l=lines: l.extend(iter(s.readline, "")),
                         daemon=True).start()
    pids = {}
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("epoch 2/") for line in stdout):  # both ranks are training
            assert launcher.poll() is None and time.monotonic() < deadline, "".join(stdout + stderr)
            time.sleep(0.1)
        pids = worker_pids(launcher.pid)
        assert sorted(pids) == [0, 1], pids
        os.kill(pids[1], signal.SIGSTOP)
        frozen_at = time.monotonic()
        while is_running(pids[0]) and time.monotonic() < frozen_at + 2 * timeout + 20:
            time.sleep(0.1)
        waited = time.monotonic() - frozen_at
        assert not is_running(pids[0]), f"rank 0 still waits {waited:.0f} s after rank 1 froze"
        assert waited < 2 * timeout + 15, f"rank 0 took {waited:.0f} s to give up"
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            launcher.wait(timeout=30)
        launcher.kill()
        launcher.wait()
    err = "".join(stderr)
    assert launcher.returncode != 0
    assert "[rank 0] error: rank 1 stopped answering" in err, err[-3000:]
    assert "re-run the same command" in err.lower() and str(tmp_path / "checkpoint.pt") in err
    assert "--dist-timeout" in err
    assert 'course_utils/' not in "".join(l for l in stderr if l.lstrip().startswith('File "')), err

"""A run continues only as the run it was.

Re-running ``python -m course_utils train`` over an existing ``--out`` (or calling
``fit(..., resume=True)``) carries on the saved run. With other settings it would
train a mixture of two runs, so it stops before training with one error that lists
every difference (setting: saved -> new) and the two ways out.
"""
import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.checkpoint import CheckpointError, load_checkpoint
from course_utils.cli import main
from course_utils.train import fit

TINY = ["--model", "mnist_resnet", "--data", "mnist", "--no-download", "--no-tensorboard",
        "--workers", "0", "--epochs", "1"]


@pytest.fixture
def smoke(monkeypatch, mnist_root):
    """Smoke mode (COURSE_SMOKE=1): a few hundred images, a run takes a second or two."""
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(mnist_root))


def train(out, *extra) -> int:
    return main(["train", *TINY, "--out", str(out), *extra])


def files(out) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("checkpoint.pt", "history.json")}


# --- the command line ---------------------------------------------------------------------------

def test_rerun_with_another_lr_is_refused_naming_both_values_and_the_checkpoint_is_untouched(
        smoke, tmp_path, capsys):
    assert train(tmp_path) == 0
    before = files(tmp_path)
    capsys.readouterr()
    assert train(tmp_path, "--lr", "0.01") == 2
    out, err = capsys.readouterr()
    assert "--lr: 0.001 -> 0.01" in err
    assert "--lr 0.001" in err  # the way back to the saved run ...
    assert "--no-resume" in err and "new --out" in err  # ... and the ways to start afresh
    assert err.count("error:") == 1 and "Traceback" not in err
    assert "Training" not in out and "Resuming" not in out  # stopped before training
    assert files(tmp_path) == before


def test_other_dataset_over_an_mnist_run_is_refused(smoke, tmp_path, capsys):
    assert train(tmp_path) == 0
    before = files(tmp_path)
    assert train(tmp_path, "--data", "fashion_mnist") == 2
    err = capsys.readouterr().err
    assert "--data: mnist -> fashion_mnist" in err and "--data mnist" in err
    assert files(tmp_path) == before


def test_sgd_over_an_adam_checkpoint_is_a_clean_error_not_a_key_error(smoke, tmp_path):
    assert train(tmp_path) == 0
    before = files(tmp_path)
    result = subprocess.run([sys.executable, "-m", "course_utils", "train", *TINY, "--out", str(tmp_path),
                             "--optimizer", "sgd"],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert result.returncode == 2
    assert "--optimizer: adam -> sgd" in result.stderr
    assert "--lr: 0.001 -> 0.1" in result.stderr  # sgd's default lr: one error lists every difference
    assert "--optimizer adam" in result.stderr and "--no-resume" in result.stderr
    assert "Traceback" not in result.stderr and "KeyError" not in result.stderr
    assert files(tmp_path) == before


def test_one_cycle_run_lists_every_difference_in_one_error_epochs_included(smoke, tmp_path, capsys):
    sgd = ["--optimizer", "sgd", "--lr", "0.05"]
    assert train(tmp_path, *sgd) == 0
    before = files(tmp_path)
    capsys.readouterr()
    assert train(tmp_path, "--optimizer", "sgd", "--lr", "0.02", "--epochs", "2", "--seed", "1") == 2
    err = capsys.readouterr().err
    for line in ("--lr: 0.05 -> 0.02", "--epochs: 1 -> 2", "--seed: 0 -> 1"):
        assert line in err
    assert "one-cycle schedule" in err and err.count("error:") == 1
    assert files(tmp_path) == before


def test_identical_rerun_resumes_and_adam_may_extend_epochs(smoke, tmp_path, capsys):
    assert train(tmp_path) == 0
    assert train(tmp_path) == 0  # identical: nothing left to train, but it resumes
    assert "Resuming from" in capsys.readouterr().out
    assert train(tmp_path, "--epochs", "2") == 0  # Adam has no schedule planned for --epochs
    assert "1 epoch(s) done" in capsys.readouterr().out
    assert json.loads((tmp_path / "history.json").read_text())["history"]["epoch"] == [1, 2]


def test_no_resume_starts_afresh_with_the_new_settings_and_says_it_overwrites(smoke, tmp_path, capsys):
    assert train(tmp_path) == 0
    (tmp_path / "notes.txt").write_text("mine")
    assert train(tmp_path, "--lr", "0.01", "--no-resume") == 0
    out = capsys.readouterr().out
    assert "starting over" in out and "Resuming" not in out
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"]["settings"]["--lr"] == 0.01
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only what it writes is replaced
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--no-resume starts afresh and overwrites OUT/checkpoint.pt" in help_text


# --- the library: fit(..., resume=True) ----------------------------------------------------------

def loader_and_model():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (64,), generator=g)
    x = torch.randn(64, 1, 4, 4, generator=g) + y.float().view(-1, 1, 1, 1)
    torch.manual_seed(0)
    return DataLoader(TensorDataset(x, y), batch_size=16), nn.Sequential(nn.Flatten(), nn.Linear(16, 2))


def sgd(**kwargs):
    return lambda model: torch.optim.SGD(model.parameters(), **{"lr": 0.05, **kwargs})


def adam(**kwargs):
    return lambda model: torch.optim.Adam(model.parameters(), **{"lr": 0.05, **kwargs})


@pytest.mark.parametrize("first, then, lines", [
    (adam(), sgd(), ["optimizer: Adam -> SGD"]),
    (sgd(), sgd(lr=0.01), ["optimizer lr: 0.05 -> 0.01"]),
    (sgd(momentum=0.9), sgd(momentum=0.8, nesterov=True),
     ["optimizer momentum: 0.9 -> 0.8", "optimizer nesterov: False -> True"]),
    (sgd(), sgd(weight_decay=5e-4), ["optimizer weight_decay: 0 -> 0.0005"]),
    (adam(), adam(betas=(0.8, 0.99), lr=0.01), ["optimizer betas: (0.9, 0.999) -> (0.8, 0.99)",
                                                "optimizer lr: 0.05 -> 0.01"]),
], ids=["another type", "another lr", "momentum and nesterov", "weight decay", "betas and lr"])
def test_fit_resume_with_another_optimizer_lists_each_difference_and_the_ways_out(tmp_path, first, then, lines):
    ckpt = tmp_path / "run.pt"
    train_loader, model = loader_and_model()
    fit(model, train_loader, epochs=1, optimizer=first(model), checkpoint=ckpt, progress=False)
    saved = ckpt.read_bytes()
    train_loader, model = loader_and_model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(CheckpointError) as raised:
        fit(model, train_loader, epochs=2, optimizer=then(model), checkpoint=ckpt, resume=True, progress=False)
    message = str(raised.value)
    for line in lines:
        assert line in message
    assert "resume=False" in message and "another checkpoint path" in message
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing trained
    assert ckpt.read_bytes() == saved


def test_fit_records_the_callers_settings_and_refuses_other_ones(tmp_path):
    ckpt = tmp_path / "run.pt"
    train_loader, model = loader_and_model()
    fit(model, train_loader, epochs=1, checkpoint=ckpt, progress=False, settings={"data": "mnist", "seed": 0})
    assert load_checkpoint(ckpt)["config"]["settings"] == {"data": "mnist", "seed": 0}
    train_loader, model = loader_and_model()
    with pytest.raises(CheckpointError, match=r"data: mnist -> fashion_mnist\n.*seed: 0 -> 1"):
        fit(model, train_loader, epochs=2, checkpoint=ckpt, resume=True, progress=False,
            settings={"data": "fashion_mnist", "seed": 1})
    train_loader, model = loader_and_model()
    history = fit(model, train_loader, epochs=2, checkpoint=ckpt, resume=True, progress=False,
                  settings={"data": "mnist", "seed": 0})
    assert history.epoch == [1, 2]

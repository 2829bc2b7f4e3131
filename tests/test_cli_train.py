"""`python -m course_utils train`: one process, on MNIST (staged, or the tests' synthetic copy)."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils.checkpoint import load_checkpoint, load_weights
from course_utils.cli import main
from course_utils.commands import train as train_command
from course_utils.models import MnistResNet

TINY = ["--model", "mnist_resnet", "--data", "mnist", "--subset", "256", "--batch-size", "64",
        "--no-download", "--no-tensorboard", "--workers", "0"]


def train(out, *extra) -> int:
    return main(["train", *TINY, "--out", str(out), *extra])


def test_help_lists_models_datasets_and_the_torchrun_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for word in ("sequential_cnn", "mnist_resnet", "cifar_resnet20", "resnet18",
                 "mnist", "fashion_mnist", "cifar10", "torchrun", "--no-resume", "--stop-after", "--fast"):
        assert word in text


def test_unknown_model_is_refused_listing_the_choices(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--model", "resnet50", "--data", "mnist", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'resnet50'" in err and "resnet18" in err and "mnist_resnet" in err


def test_unknown_dataset_is_refused_listing_the_choices(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--model", "resnet18", "--data", "imagenet", "--out", str(tmp_path)])
    assert "fashion_mnist" in capsys.readouterr().err


def test_model_that_does_not_fit_the_images_is_refused_with_the_alternative(capsys, tmp_path):
    status = main(["train", "--model", "mnist_resnet", "--data", "cifar10", "--out", str(tmp_path)])
    assert status == 2
    err = capsys.readouterr().err
    assert "28x28" in err and "cifar_resnet20" in err
    assert not (tmp_path / "checkpoint.pt").exists()


def test_zero_epochs_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--model", "resnet18", "--data", "cifar10", "--epochs", "0", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "argument --epochs: must be a whole number of at least 1, not 0" in capsys.readouterr().err


def test_missing_dataset_offline_says_where_and_exits_1_without_traceback(tmp_path):
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "empty")}
    result = subprocess.run(
        [sys.executable, "-m", "course_utils", "train", "--model", "mnist_resnet", "--data", "mnist",
         "--no-download", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert "mnist is not in" in result.stderr and "fetch-data mnist" in result.stderr
    assert "--no-download was passed" in result.stderr and "get_datasets(" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a folder")
    assert main(["train", *TINY, "--out", str(tmp_path / "notes.txt")]) == 2
    err = capsys.readouterr().err
    assert f"error: --out {tmp_path / 'notes.txt'} is a file; --out names a folder" in err
    assert (tmp_path / "notes.txt").read_text() == "not a folder"


def test_out_inside_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a folder")
    assert main(["train", *TINY, "--out", str(tmp_path / "notes.txt" / "run")]) == 2
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in capsys.readouterr().err


def test_error_writing_into_out_says_what_and_what_to_do(mnist_root, tmp_path, monkeypatch, capsys):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "checkpoint.pt.tmp"))
    monkeypatch.setattr(train_command, "fit", disk_full)
    assert train(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"error: cannot write {tmp_path / 'checkpoint.pt.tmp'} (No space left on device)" in err
    assert "choose another --out" in err


def test_partial_cifar10_from_the_command_line_names_the_allow_partial_flag(synthetic_root, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(synthetic_root))  # a partial copy, wherever the full one is staged
    status = main(["train", "--model", "cifar_resnet20", "--data", "cifar10", "--no-download",
                   "--no-tensorboard", "--out", str(tmp_path)])
    assert status == 1
    err = capsys.readouterr().err
    assert "incomplete or corrupt" in err and "add --allow-partial" in err
    assert "python -m course_utils fetch-data cifar10" in err
    assert "allow_partial=True" not in err and "get_datasets(" not in err


@pytest.mark.slow
def test_tiny_run_writes_checkpoint_tensorboard_and_history_json(mnist_root, tmp_path):
    assert main(["train", *TINY[:-3], "--workers", "0", "--epochs", "2", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "history.json").read_text())
    history = summary["history"]
    assert history["epoch"] == [1, 2]
    assert history["train_loss"][1] < history["train_loss"][0]
    assert summary["chosen_epoch"] == 2 and summary["chosen_on"] == "last epoch"
    assert history["val_acc"] == [None, None] and history["test_acc"] == [None, None]  # null, not NaN
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["world_size"] == 1 and summary["device"] == "cpu"
    assert summary["args"]["model"] == "mnist_resnet" and summary["args"]["epochs"] == 2
    assert (tmp_path / "checkpoint.pt").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    load_weights(MnistResNet(), tmp_path / "checkpoint.pt")  # a plain model loads it


@pytest.mark.slow
def test_rerun_with_more_epochs_continues_to_the_same_result_as_one_straight_run(mnist_root, tmp_path):
    assert train(tmp_path / "straight", "--epochs", "2") == 0
    assert train(tmp_path / "resumed", "--epochs", "1") == 0
    assert train(tmp_path / "resumed", "--epochs", "2") == 0
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())["history"]
    resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())["history"]
    assert resumed["epoch"] == [1, 2]
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], rel=1e-6)
    test_acc = [json.loads((tmp_path / run / "history.json").read_text())["test_accuracy"]
                for run in ("straight", "resumed")]
    assert test_acc[0] == test_acc[1]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.slow
def test_no_resume_starts_over(mnist_root, tmp_path, capsys):
    assert train(tmp_path, "--epochs", "1") == 0
    assert train(tmp_path, "--epochs", "1", "--no-resume") == 0
    out = capsys.readouterr().out
    assert "starting over" in out and "Resuming" not in out


@pytest.mark.slow
def test_changing_epochs_of_a_one_cycle_run_is_refused_with_what_to_do(mnist_root, tmp_path, capsys):
    assert train(tmp_path, "--epochs", "1", "--optimizer", "sgd", "--lr", "0.05") == 0
    assert train(tmp_path, "--epochs", "2", "--optimizer", "sgd", "--lr", "0.05") == 2
    err = capsys.readouterr().err
    assert "one-cycle schedule" in err and "--no-resume" in err


@pytest.mark.slow
def test_stop_after_then_rerun_equals_a_straight_one_cycle_run(mnist_root, tmp_path):
    sgd = ["--epochs", "2", "--optimizer", "sgd", "--lr", "0.05"]
    assert train(tmp_path / "straight", *sgd) == 0
    assert train(tmp_path / "resumed", *sgd, "--stop-after", "1") == 0
    first = json.loads((tmp_path / "resumed" / "history.json").read_text())["history"]
    assert first["epoch"] == [1]
    assert train(tmp_path / "resumed", *sgd) == 0
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())["history"]
    resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())["history"]
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], rel=1e-6)
    assert resumed["lr"] == pytest.approx(straight["lr"])


@pytest.mark.slow
def test_fast_loaders_train_too(mnist_root, tmp_path):
    assert main(["train", *TINY, "--epochs", "2", "--fast", "--device", "cpu", "--out", str(tmp_path)]) == 0
    history = json.loads((tmp_path / "history.json").read_text())["history"]
    assert history["train_loss"][1] < history["train_loss"][0]


@pytest.mark.slow
def test_val_holds_out_images_chooses_on_them_and_reports_test_once(mnist_root, tmp_path, capsys):
    assert train(tmp_path, "--epochs", "3", "--val", "128") == 0
    summary = json.loads((tmp_path / "history.json").read_text())
    history = summary["history"]
    assert all(a is not None for a in history["val_acc"]) and history["test_acc"] == [None] * 3
    best = max(history["val_acc"])
    assert summary["chosen_epoch"] == history["epoch"][history["val_acc"].index(best)]
    assert summary["chosen_on"] == "validation accuracy"
    assert load_checkpoint(tmp_path / "checkpoint.pt")["best_accuracy"] == best
    out = capsys.readouterr().out
    assert f"of epoch {summary['chosen_epoch']} (validation accuracy)" in out


def test_val_must_be_positive(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        train(tmp_path, "--val", "0")
    assert exit_.value.code == 2
    assert "argument --val: must be a whole number of at least 1, not 0" in capsys.readouterr().err


def test_the_two_machine_example_lets_c10d_assign_the_ranks(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    assert "--rdzv_backend=c10d" in help_text and "--node_rank" not in help_text


def test_every_command_names_a_dataset_with_data_and_a_folder_with_data_dir(capsys):
    from course_utils.cli import build_parser
    assert build_parser("doctor").parse_args(["doctor", "--data-dir", "d"]).data_dir == Path("d")
    args = build_parser("train").parse_args(["train", *TINY, "--data-dir", "d", "--out", "o"])
    assert (args.data, args.data_dir) == ("mnist", Path("d"))
    with pytest.raises(SystemExit):  # doctor's --data was a folder once: now the flag means a dataset only
        build_parser("doctor").parse_args(["doctor", "--data", "d"])

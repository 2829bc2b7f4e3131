import contextlib
import io
import math
import re
import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.checkpoint import CheckpointError, load_checkpoint, load_weights
from course_utils.data import get_loaders
from course_utils.fast import autocast_dtype
from course_utils.models import MnistResNet
from course_utils.train import History, TrainingDivergedError, evaluate, fit, predict, train_steps


def blobs(n=256, seed=0):
    """Two separable classes of 1x4x4 'images' (mean -1 versus +1)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 1, 4, 4, generator=g) * 0.5 + (y.float() * 2 - 1).view(-1, 1, 1, 1)
    return x, y


def blob_loaders(seed=0):
    x, y = blobs(seed=seed)
    g = torch.Generator().manual_seed(seed)
    train = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True, generator=g)
    val = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)
    return train, val


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 2))


def test_fit_learns_separable_data_and_records_history():
    train, val = blob_loaders()
    history = fit(tiny_model(), train, val, epochs=4, lr=0.05, progress=False)
    assert history.epoch == [1, 2, 3, 4]
    assert history.val_acc[-1] > 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    assert all(s > 0 for s in history.examples_per_s)
    assert "train loss" in str(history)


def test_fit_without_val_loader_fills_val_columns_with_nan():
    train, _ = blob_loaders()
    history = fit(tiny_model(), train, epochs=1, progress=False)
    assert math.isnan(history.val_acc[0]) and history.train_acc[0] > 0


def test_fit_rejects_optimizer_and_lr_together():
    model = tiny_model()
    with pytest.raises(ValueError, match="not both"):
        fit(model, [], epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), lr=0.1)


def test_fit_stops_on_nan_loss_naming_epoch_and_batch():
    x, y = blobs(64)
    x[40] = float("nan")  # batch 3 of 16 examples
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 3.*learning rate"):
        fit(tiny_model(), loader, epochs=1, progress=False)


def test_evaluate_returns_loss_and_accuracy_fraction():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with torch.no_grad():
        model[1].weight.zero_(); model[1].bias.copy_(torch.tensor([1.0, 0.0]))  # always class 0
    x, y = blobs(100)
    result = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=32), device="cpu")
    assert result["n"] == 100
    assert result["accuracy"] == pytest.approx((y == 0).float().mean().item())
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(torch.tensor([[1.0, 0.0]]).expand(100, 2), y).item(), rel=1e-5)


@pytest.mark.parametrize("wrong, match", [
    (blobs(8)[0], r"not a tensor of shape \(8, 1, 4, 4\).*model\(images\).*DataLoader\(TensorDataset"),
    (blobs(8), r"not one \(images, labels\) pair.*DataLoader\(TensorDataset"),
    (TensorDataset(*blobs(8)), r"not a TensorDataset dataset.*DataLoader\(dataset, batch_size=256\)"),
    (3, r"not an object of type int"),
])
@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_training_functions_reject_what_is_not_a_loader_with_the_fix(call, wrong, match):
    model = tiny_model()
    run = {"fit": lambda: fit(model, wrong, epochs=1, progress=False),
           "evaluate": lambda: evaluate(model, wrong, device="cpu"),
           "predict": lambda: predict(model, wrong, device="cpu")}[call]
    with pytest.raises(TypeError, match=match):
        run()


def test_fit_checks_the_val_loader_before_training():
    train, _ = blob_loaders()
    model = tiny_model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(TypeError, match="fit's val_loader"):
        fit(model, train, blobs(8)[0], epochs=1, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing trained


def test_predict_returns_labels_and_predictions_in_order():
    x, y = blobs(50)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    y_true, y_pred = predict(model, DataLoader(TensorDataset(x, y), batch_size=16), device="cpu")
    assert torch.equal(y_true, y) and y_pred.shape == (50,)
    assert torch.equal(y_pred, model(x).argmax(1))


def test_fit_scheduler_steps_per_epoch_and_lr_is_recorded():
    train, _ = blob_loaders()
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, train, epochs=3, optimizer=opt, scheduler=sched, progress=False)
    assert history.lr == pytest.approx([0.1, 0.05, 0.025])


def test_fit_one_cycle_scheduler_steps_per_batch():
    train, _ = blob_loaders()
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2 * len(train))
    fit(model, train, epochs=2, optimizer=opt, scheduler=sched, scheduler_interval="batch", progress=False)
    assert sched.last_epoch == 2 * len(train)


def test_checkpoint_keeps_best_weights_and_is_written_atomically(tmp_path):
    train, val = blob_loaders()
    model = tiny_model()
    ckpt = tmp_path / "run" / "best.pt"
    history = fit(model, train, val, epochs=3, lr=0.05, checkpoint=ckpt, progress=False)
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 3
    assert state["best_accuracy"] == max(history.val_acc)
    assert not (tmp_path / "run" / "best.pt.tmp").exists()
    reloaded = load_weights(tiny_model(), ckpt)  # the best epoch's weights
    assert evaluate(reloaded, val, device="cpu")["accuracy"] == pytest.approx(max(history.val_acc))


def test_resume_after_interruption_gives_the_same_history_as_one_run(tmp_path):
    train, val = blob_loaders()
    full = fit(tiny_model(), train, val, epochs=4, lr=0.05, progress=False)

    torch.manual_seed(123)  # a fresh "session": different global RNG
    train, val = blob_loaders()
    ckpt = tmp_path / "ckpt.pt"
    fit(tiny_model(), train, val, epochs=2, lr=0.05, checkpoint=ckpt, progress=False)  # "disconnect"
    train, val = blob_loaders()
    torch.manual_seed(999)
    resumed = fit(tiny_model(), train, val, epochs=4, lr=0.05, checkpoint=ckpt, resume=True,
                  progress=False)
    assert resumed.epoch == [1, 2, 3, 4]
    for column in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert getattr(resumed, column) == pytest.approx(getattr(full, column), abs=1e-6), column


class Disconnect(Exception):
    """What a Colab disconnect does to a running cell: it stops in the middle of an epoch."""


class DisconnectingLoader:
    """``loader``, which stops with ``Disconnect`` at batch ``at_batch`` of epoch ``at_epoch``."""

    def __init__(self, loader, at_epoch, at_batch):
        self.loader, self.at_epoch, self.at_batch, self.epoch = loader, at_epoch, at_batch, 0
        self.generator = loader.generator  # fit saves and restores the shuffling state through it

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epoch += 1
        for i, batch in enumerate(self.loader):
            if (self.epoch, i) == (self.at_epoch, self.at_batch):
                raise Disconnect
            yield batch


def test_resume_after_a_disconnect_mid_epoch_gives_the_same_run(tmp_path):
    train, val = blob_loaders()
    model = tiny_model()
    full = fit(model, train, val, epochs=3, lr=0.05, progress=False)

    ckpt = tmp_path / "ckpt.pt"
    train, val = blob_loaders()
    with pytest.raises(Disconnect):  # epoch 1 is saved, epoch 2 stops after 3 of its 6 batches
        fit(tiny_model(), DisconnectingLoader(train, at_epoch=2, at_batch=3), val, epochs=3, lr=0.05,
            checkpoint=ckpt, progress=False)
    assert load_checkpoint(ckpt)["epoch"] == 1
    torch.manual_seed(7)  # the new session's random state differs; the checkpoint restores it
    train, val = blob_loaders()
    twin = tiny_model()
    resumed = fit(twin, train, val, epochs=3, lr=0.05, checkpoint=ckpt, resume=True, progress=False)
    assert resumed.epoch == [1, 2, 3]
    for column in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert getattr(resumed, column) == pytest.approx(getattr(full, column), abs=1e-6), column
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_resume_without_checkpoint_file_starts_from_epoch_one(tmp_path, capsys):
    train, _ = blob_loaders()
    history = fit(tiny_model(), train, epochs=1, checkpoint=tmp_path / "new.pt", resume=True)
    assert history.epoch == [1]
    captured = capsys.readouterr()
    assert "starting from epoch 1" in captured.out + captured.err


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    ckpt = tmp_path / "best.pt"
    train, _ = blob_loaders()
    fit(tiny_model(), train, epochs=1, checkpoint=ckpt, progress=False)
    ckpt.write_bytes(ckpt.read_bytes()[:200])  # truncated, as by a crash without atomic writes
    with pytest.raises(CheckpointError, match="not a readable checkpoint.*Delete it"):
        fit(tiny_model(), train, epochs=2, checkpoint=ckpt, resume=True, progress=False)


def test_checkpoint_of_another_model_gives_a_clear_error(tmp_path):
    ckpt = tmp_path / "best.pt"
    train, _ = blob_loaders()
    fit(tiny_model(), train, epochs=1, checkpoint=ckpt, progress=False)
    other = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(CheckpointError, match="different model"):
        load_weights(other, ckpt)


def _one_cycle_run(epochs, ckpt, resume=False, lr=0.05):
    train, _ = blob_loaders()
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                    steps_per_epoch=len(train))
    return fit(model, train, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
               scheduler_interval="batch", checkpoint=ckpt, resume=resume, progress=False)


def test_resuming_with_a_longer_schedule_says_the_run_differs(tmp_path):
    ckpt = tmp_path / "best.pt"
    _one_cycle_run(2, ckpt)
    assert len(_one_cycle_run(2, ckpt, resume=True)) == 2  # the same run resumes
    with pytest.raises(CheckpointError, match=r"other settings .*:\n  scheduler total_steps: 12 -> 36\n"):
        _one_cycle_run(6, ckpt, resume=True)


def test_resuming_with_a_longer_schedule_and_another_lr_lists_both_in_one_error(tmp_path):
    ckpt = tmp_path / "best.pt"
    _one_cycle_run(2, ckpt)
    with pytest.raises(CheckpointError) as raised:
        _one_cycle_run(6, ckpt, resume=True, lr=0.02)
    assert "optimizer lr: 0.05 -> 0.02\n  scheduler total_steps: 12 -> 36\n" in str(raised.value)


def test_resuming_with_another_optimizer_says_the_run_differs(tmp_path):
    ckpt = tmp_path / "best.pt"
    train, _ = blob_loaders()
    fit(tiny_model(), train, epochs=1, checkpoint=ckpt, progress=False)  # Adam, one param group
    model = tiny_model()
    groups = [{"params": [p]} for p in model.parameters()]  # SGD with one group per tensor
    with pytest.raises(CheckpointError, match=r"(?s)other settings \(setting: saved -> now\):\n  optimizer: Adam -> SGD\n.*another checkpoint path"):
        fit(model, train, epochs=2, optimizer=torch.optim.SGD(groups, lr=0.001), checkpoint=ckpt,
            resume=True, progress=False)


def test_plain_state_dict_file_is_refused_with_advice(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(tiny_model().state_dict(), path)
    with pytest.raises(CheckpointError, match="load_state_dict"):
        load_checkpoint(path)


def test_fit_writes_tensorboard_scalars(tmp_path):
    train, val = blob_loaders()
    fit(tiny_model(), train, val, epochs=2, log_dir=tmp_path / "tb", progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert {"loss/train", "loss/val", "accuracy/val", "lr"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss/train")] == [1, 2]


def test_history_round_trips_through_a_dict():
    h = History()
    h.append(epoch=1, train_loss=1.0, train_acc=0.5, val_loss=1.1, val_acc=0.4, lr=0.1,
             seconds=2.0, examples_per_s=100.0)
    h.append(epoch=2, train_loss=0.5, train_acc=0.8, val_loss=0.9, val_acc=0.6, lr=0.1,
             seconds=2.0, examples_per_s=100.0)
    assert History.from_dict(h.to_dict()) == h
    assert h.best_epoch() == 2


def _mnist_run(seed: int, epochs: int) -> list[float]:
    """The issue's recipe: MnistResNet, Adam lr 1e-3, batch 64, on the first 3,000 training and
    1,000 test images (the course's sample, or the start of the full set)."""
    torch.manual_seed(seed)
    train, _ = get_loaders("mnist", batch_size=64, num_workers=0, seed=seed, subset=3000)
    _, test = get_loaders("mnist", batch_size=64, num_workers=0, seed=seed, subset=1000)
    assert len(train.dataset) == 3000 and len(test.dataset) == 1000
    model = MnistResNet()
    history = fit(model, train, test_loader=test, epochs=epochs, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
                  device="cpu", progress=False)
    return history.test_acc


@pytest.mark.slow
def test_mnist_resnet_reaches_93_percent_on_real_mnist_sample_within_3_epochs(real_mnist_root):
    # One run's best epoch lands between 92.8% and 94.6% depending on the seed (the order of
    # the batches and the initial weights; measured over seeds 0-5 on a 2-core CPU), so the bar
    # is held by the mean over four seeds (93.4% here), not by one lucky or unlucky run.
    best = [max(_mnist_run(seed, epochs=3)) for seed in range(4)]
    assert sum(best) / len(best) >= 0.93, best
    assert min(best) >= 0.90, best


@pytest.mark.slow
def test_fit_trains_exactly_like_a_plain_loop_on_mnist(mnist_root):
    """fit adds progress, metrics and checkpoints around the tutorials' loop, and changes nothing in it."""
    torch.manual_seed(0)
    train, test = get_loaders("mnist", batch_size=64, num_workers=0, seed=0, subset=640)
    model, loss_fn = MnistResNet(), nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in train:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    plain = evaluate(model, test, device="cpu")["accuracy"]
    torch.manual_seed(0)
    train, test = get_loaders("mnist", batch_size=64, num_workers=0, seed=0, subset=640)
    twin = MnistResNet()
    history = fit(twin, train, test_loader=test, epochs=1, optimizer=torch.optim.Adam(twin.parameters(), lr=1e-3),
                  device="cpu", progress=False)
    assert history.test_acc[-1] == plain
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b)


def test_progress_bar_does_not_change_what_is_trained():
    """tqdm must draw each shuffled batch once: with and without the bar, the same run."""
    def run(progress):
        torch.manual_seed(0)
        x, y = torch.randn(96, 4), torch.randint(0, 2, (96,))
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                            generator=torch.Generator().manual_seed(1))
        model = nn.Linear(4, 2)
        h = fit(model, loader, epochs=2, lr=0.1, device="cpu", progress=progress)
        return h.train_loss, model.weight.detach().clone()

    (loss_a, w_a), (loss_b, w_b) = run(True), run(False)
    assert loss_a == loss_b
    assert torch.equal(w_a, w_b)


class SlowBatches(TensorDataset):
    """A dataset whose every example takes 10 ms to load, like a real loader reading images."""

    def __getitem__(self, i):
        time.sleep(0.01)
        return super().__getitem__(i)


def test_progress_bar_in_a_log_file_redraws_rarely_and_keeps_the_epoch_lines():
    """``train ... > log 2>&1``: tqdm's default 10 redraws a second would fill the log with bars."""
    torch.manual_seed(0)
    x, y = torch.randn(150, 4), torch.randint(0, 2, (150,))
    loader = DataLoader(SlowBatches(x, y), batch_size=1)  # 150 batches, 1.5 s an epoch
    log, out = io.StringIO(), io.StringIO()  # not a terminal: isatty() is False
    with contextlib.redirect_stderr(log), contextlib.redirect_stdout(out):
        fit(nn.Linear(4, 2), loader, epochs=2, lr=0.1, device="cpu", progress=True)
    redraws = log.getvalue().count("\r")
    assert redraws < 2 * 10, f"{redraws} redraws of the bar in 2 epochs of 150 batches"
    assert re.search(r"epoch 1/2  train loss .* examples/s", out.getvalue())
    assert re.search(r"epoch 2/2  train loss .* examples/s", out.getvalue())


@pytest.mark.parametrize("device, capability, amp, expected", [
    ("cuda", (8, 0), "auto", torch.bfloat16),   # Ampere and newer (A100, H100, RTX 30xx)
    ("cuda", (7, 5), "auto", torch.float16),    # a Colab T4: float16 with a scaler
    ("cpu", (8, 0), "auto", None),              # the CPU trains in float32
    ("mps", (8, 0), "auto", None),
    ("cuda", (8, 0), False, None),
    ("cuda", (8, 0), "fp16", torch.float16),
    ("cpu", (7, 5), "bf16", torch.bfloat16),
])
def test_autocast_dtype_follows_the_setting_and_the_device(monkeypatch, device, capability, amp, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert autocast_dtype(torch.device(device), amp) is expected


def test_autocast_dtype_refuses_an_unknown_setting():
    with pytest.raises(ValueError, match="amp must be 'auto', True, False, 'bf16' or 'fp16'"):
        autocast_dtype(torch.device("cpu"), "float16")


def test_gradient_scaler_only_for_float16(monkeypatch):
    """bf16 has float32's range and needs no loss scaling; fp16 does (checked on the CPU's autocast)."""
    train, _ = blob_loaders()
    real = torch.amp.GradScaler
    for amp, scaled in (("fp16", True), ("bf16", False), (False, False)):
        created = []
        monkeypatch.setattr(torch.amp, "GradScaler",
                            lambda *a, created=created, **k: created.append(k) or real(*a, **k))
        fit(tiny_model(), train, epochs=1, lr=0.05, device="cpu", amp=amp, progress=False)
        assert created and created[0]["enabled"] is scaled


# --- model selection on a validation split ---------------------------------------------------

def _disagreeing_val_and_test():
    """A validation set and a test set on which the epochs rank differently (the test set is flipped)."""
    train, val = blob_loaders()
    x, y = blobs(64, seed=5)
    flipped_test = DataLoader(TensorDataset(x, 1 - y), batch_size=64)  # the best model scores worst here
    return train, val, flipped_test


def test_fit_chooses_the_best_epoch_on_validation_never_on_test(tmp_path):
    train, val, test = _disagreeing_val_and_test()
    ckpt = tmp_path / "run.pt"
    model = tiny_model()
    history = fit(model, train, val, test_loader=test, epochs=4, lr=0.05, checkpoint=ckpt, progress=False)
    assert not any(math.isnan(a) for a in history.val_acc + history.test_acc)  # both columns recorded
    assert history.best_epoch() == history.epoch[history.val_acc.index(max(history.val_acc))]
    assert load_checkpoint(ckpt)["best_accuracy"] == max(history.val_acc)
    chosen = load_weights(tiny_model(), ckpt)
    assert evaluate(chosen, val, device="cpu")["accuracy"] == pytest.approx(max(history.val_acc))
    assert history.test_acc[history.best_epoch() - 1] < 0.5  # the flipped test set was not consulted


def test_without_validation_the_kept_model_is_the_last_epoch(tmp_path):
    train, _ = blob_loaders()
    ckpt = tmp_path / "run.pt"
    model = tiny_model()
    history = fit(model, train, epochs=3, lr=0.05, checkpoint=ckpt, progress=False)
    assert history.best_epoch() == 3
    last = load_weights(tiny_model(), ckpt, which="best")
    for a, b in zip(last.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_history_best_epoch_prefers_validation_and_keeps_the_first_of_a_tie():
    h = History()
    for epoch, (val, test) in enumerate([(0.5, 0.9), (0.8, 0.1), (0.8, 0.2)], start=1):
        h.append(epoch=epoch, train_loss=1.0, train_acc=0.99, val_loss=1.0, val_acc=val, test_loss=1.0,
                 test_acc=test, lr=0.1, seconds=1.0, examples_per_s=1.0)
    assert h.best_epoch() == 2
    with pytest.raises(ValueError, match="empty"):
        History().best_epoch()


def test_history_from_an_older_checkpoint_without_val_columns_fills_nan():
    old = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.5, 0.7], "test_loss": [1.0, 0.9],
           "test_acc": [0.4, 0.6], "lr": [0.1, 0.1], "seconds": [1.0, 1.0], "examples_per_s": [9.0, 9.0]}
    h = History.from_dict(old)
    assert len(h.val_acc) == 2 and all(math.isnan(a) for a in h.val_acc) and h.test_acc == [0.4, 0.6]


def test_history_append_refuses_an_unknown_column():
    with pytest.raises(TypeError, match="no column valid_acc"):
        History().append(epoch=1, train_loss=1.0, train_acc=0.5, valid_acc=0.5, lr=0.1, seconds=1.0,
                         examples_per_s=1.0)


# --- resuming refuses another configuration ----------------------------------------------------

@pytest.mark.parametrize("change, what", [
    (dict(optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.01)), "optimizer lr: 0.05 -> 0.01"),
    (dict(optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.05, weight_decay=5e-4)),
     "optimizer weight_decay: 0 -> 0.0005"),
    (dict(loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1)), "loss label_smoothing: 0.0 -> 0.1"),
    (dict(model=lambda: nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.5), nn.ReLU(),
                                      nn.Linear(8, 2))), "model: "),
])
def test_resuming_with_other_settings_is_refused_and_says_which(tmp_path, change, what):
    train, val = blob_loaders()
    ckpt = tmp_path / "run.pt"
    first = tiny_model()
    fit(first, train, val, epochs=1, optimizer=torch.optim.SGD(first.parameters(), lr=0.05),
        checkpoint=ckpt, progress=False)
    model = change.get("model", tiny_model)()
    optimizer = change.get("optimizer", lambda m: torch.optim.SGD(m.parameters(), lr=0.05))(model)
    with pytest.raises(CheckpointError, match=r"(?s)other settings .*" + re.escape(what) + r".*another checkpoint path"):
        fit(model, train, val, epochs=2, optimizer=optimizer, loss_fn=change.get("loss_fn"),
            checkpoint=ckpt, resume=True, progress=False)


def test_resuming_with_the_same_settings_and_a_fresh_optimizer_continues(tmp_path):
    train, val = blob_loaders()
    ckpt = tmp_path / "run.pt"
    first = tiny_model()
    fit(first, train, val, epochs=1, optimizer=torch.optim.SGD(first.parameters(), lr=0.05, momentum=0.9),
        loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1), checkpoint=ckpt, progress=False)
    again = tiny_model()
    history = fit(again, train, val, epochs=2, optimizer=torch.optim.SGD(again.parameters(), lr=0.05, momentum=0.9),
                  loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1), checkpoint=ckpt, resume=True, progress=False)
    assert history.epoch == [1, 2]


# --- mixed precision by compute capability ---------------------------------------------------

@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16), ((7, 0), torch.float16),
                                                  ((8, 0), torch.bfloat16), ((8, 6), torch.bfloat16),
                                                  ((9, 0), torch.bfloat16)])
def test_autocast_dtype_decides_by_compute_capability(monkeypatch, capability, expected):
    # A T4 (7.5) answers is_bf16_supported() == True (bfloat16 is emulated there, and slow):
    # the decision must not follow it.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert autocast_dtype(torch.device("cuda"), "auto") == expected


def test_fp16_gets_a_gradient_scaler_and_the_cpu_gets_no_autocast(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    dtype = autocast_dtype(torch.device("cuda"))
    assert dtype == torch.float16
    assert torch.amp.GradScaler("cpu", enabled=dtype == torch.float16).is_enabled()
    assert autocast_dtype(torch.device("cpu")) is None and autocast_dtype(torch.device("mps")) is None


def _model_with_a_frozen_batch_norm():
    model = MnistResNet(batch_norm=True)
    model.block1.bn1.eval()  # frozen on purpose: its running statistics must not move
    return model


@pytest.mark.parametrize("call", ["evaluate", "predict", "evaluate_tta", "classify"])
def test_scoring_gives_every_submodule_its_own_mode_back(call):
    from PIL import Image

    from course_utils.classify import classify
    model = _model_with_a_frozen_batch_norm()
    loader = [(torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))]
    run = {"evaluate": lambda: evaluate(model, loader, device="cpu"),
           "predict": lambda: predict(model, loader, device="cpu"),
           "evaluate_tta": lambda: evaluate(model, loader, device="cpu", tta=True),
           "classify": lambda: classify(model, Image.new("L", (28, 28), 255), "mnist")}[call]
    run()
    assert model.training and not model.block1.bn1.training and model.block2.bn1.training


def test_resuming_a_get_loaders_run_continues_the_same_shuffle_as_a_straight_run(mnist_root, tmp_path):
    def run(epochs, resume):
        torch.manual_seed(0)
        train, _ = get_loaders("mnist", 64, root=mnist_root, subset=256, num_workers=0, seed=3)
        model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
        fit(model, train, epochs=epochs, lr=1e-2, device="cpu", progress=False,
            checkpoint=tmp_path / "run.pt", resume=resume)
        return model
    straight = run(2, resume=False)
    (tmp_path / "run.pt").unlink()
    run(1, resume=False)
    resumed = run(2, resume=True)  # a fresh loader: its shuffle must continue, not start over
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(),
                                                  resumed.state_dict().values()))


@pytest.mark.parametrize("total", range(1, 41))
def test_one_cycle_steps_through_any_number_of_steps(total):
    from course_utils.train import one_cycle
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = one_cycle(optimizer, 0.1, epochs=1, steps_per_epoch=total)
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(lrs) <= 0.1 + 1e-12 and lrs[0] < 0.1 or total == 1


# --- train_steps -----------------------------------------------------------------

def test_train_steps_passes_over_the_loader_as_often_as_it_takes_and_learns():
    torch.manual_seed(0)
    x = torch.randn(96, 4)
    y = (x[:, 0] > 0).long()  # learnable: the sign of the first feature
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)  # 3 batches a pass
    model = nn.Linear(4, 2)
    losses = train_steps(model, loader, 40, optimizer=torch.optim.SGD(model.parameters(), lr=0.5))
    assert len(losses) == 40 and all(isinstance(v, float) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_train_steps_refuses_an_empty_loader_and_a_bad_step_count():
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    empty = DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)), batch_size=8)
    with pytest.raises(ValueError, match="gives no batches"):
        train_steps(model, empty, 5, optimizer=optimizer)
    with pytest.raises((ValueError, TypeError), match="steps"):
        train_steps(model, empty, 0, optimizer=optimizer)

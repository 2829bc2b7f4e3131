"""``course_utils.fast``'s measuring tools: timed steps, the profile's parts, a ladder of changes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import fast

CPU = torch.device("cpu")


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


def batches(n: int = 2, size: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(size, 3, 8, 8, generator=g), torch.randint(0, 10, (size,), generator=g)) for _ in range(n)]


def test_time_steps_trains_the_model_and_reports_images_per_second():
    model = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    result = fast.time_steps(model, batches(), steps=3, warmup=1, device=CPU)
    assert set(result) == {"images/s"} and result["images/s"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_time_steps_split_gives_the_three_parts_of_a_step():
    result = fast.time_steps(tiny_model(), batches(), steps=2, warmup=0, device=CPU, split=True)
    assert set(result) == {"load", "copy", "compute", "images/s"}
    assert all(result[part] >= 0 for part in ("load", "copy", "compute")) and result["compute"] > 0


def test_time_steps_starts_a_new_pass_when_the_loader_runs_out():
    passes = []

    class Loader:
        def __iter__(self):
            passes.append(1)
            return iter(batches(n=2))

    fast.time_steps(tiny_model(), Loader(), steps=4, warmup=1, device=CPU)  # 5 steps from 2-batch passes
    assert len(passes) == 3


def test_time_steps_refuses_a_loader_without_batches_and_zero_steps():
    with pytest.raises(ValueError, match="no batches"):
        fast.time_steps(tiny_model(), [], steps=1, device=CPU)
    with pytest.raises(ValueError, match="at least one step"):
        fast.time_steps(tiny_model(), batches(), steps=0, device=CPU)


def test_time_steps_feeds_channels_last_batches_to_a_channels_last_model():
    seen = []
    model = tiny_model()
    model[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    fast.time_steps(model, batches(), steps=1, warmup=0, device=CPU, channels_last=True)
    assert seen == [True] and model[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_time_steps_leaves_cudnn_benchmark_as_it_found_it():
    before = torch.backends.cudnn.benchmark
    fast.time_steps(tiny_model(), batches(), steps=1, warmup=0, device=CPU, cudnn_benchmark=True)
    assert torch.backends.cudnn.benchmark == before


def test_unavailable_says_why_a_cpu_skips_the_gpu_changes():
    assert "float32" in fast.unavailable(CPU, amp="auto")
    assert "NVIDIA" in fast.unavailable(CPU, cudnn_benchmark=True)
    assert "CUDA only" in fast.unavailable(CPU, compile=True)
    assert fast.unavailable(CPU, channels_last=True) is None
    assert fast.unavailable(CPU, amp="bf16") is None  # asked for by name: autocast can do it on a CPU


def test_speed_ladder_skips_what_the_device_cannot_do_and_builds_on_the_last_row_measured(monkeypatch):
    calls = []

    def fake_time_steps(model, **settings):
        calls.append(settings)
        return {"images/s": 100.0 * len(calls)}

    monkeypatch.setattr(fast, "time_steps", fake_time_steps)
    rows = fast.speed_ladder(tiny_model, [("baseline", {"batches": "host"}), ("+ loader", {"batches": "device"}),
                                          ("+ amp", {"amp": "auto"}), ("+ layout", {"channels_last": True})],
                             steps=3, warmup=1, device=CPU)
    assert [(name, speed) for name, speed, _ in rows] == [("baseline", 100.0), ("+ loader", 200.0),
                                                          ("+ amp", None), ("+ layout", 300.0)]
    assert "float32" in rows[2][2]
    assert calls[-1] == {"batches": "device", "channels_last": True, "steps": 3, "warmup": 1, "device": CPU}


def test_speed_ladder_reports_a_failed_compile_and_raises_anything_else(monkeypatch):
    def fails_to_compile(model, **settings):
        if settings.get("compile"):
            raise RuntimeError("no C compiler\nmore detail")
        return {"images/s": 50.0}

    monkeypatch.setattr(fast, "time_steps", fails_to_compile)
    monkeypatch.setattr(fast, "unavailable", lambda device, **change: None)  # as on a GPU
    rows = fast.speed_ladder(tiny_model, [("baseline", {"batches": []}), ("+ compile", {"compile": True})], steps=1)
    assert rows[1][1] is None and rows[1][2] == "torch.compile failed: RuntimeError: no C compiler"
    monkeypatch.setattr(fast, "time_steps", lambda model, **s: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        fast.speed_ladder(tiny_model, [("baseline", {"batches": []})], steps=1)


def test_speed_table_names_the_device_and_gives_each_gain_against_the_row_above():
    table = fast.speed_table([("baseline", 100.0, ""), ("+ skipped", None, "why"), ("+ faster", 300.0, ""),
                              ("+ slower", 150.0, "")], CPU)
    lines = table.splitlines()
    assert lines[0] == f"training steps on {fast.device_name(CPU)}" and "threads" in lines[0]
    assert lines[3].split()[-1] == "why"
    assert lines[4].split()[-2:] == ["3.00", "3.00"] and lines[5].split()[-2:] == ["0.50", "1.50"]

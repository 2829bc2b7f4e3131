"""What every benchmark script prints with its figures: the device, the scale, the date, the spread.

A measured table is only worth something with the conditions it was measured
under, so each script in ``bench/`` starts its report with ``header(...)`` and
gives each figure over several seeds as ``mean ± standard deviation``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

import torch


def device_name(device: torch.device) -> str:
    """``"NVIDIA H200"`` on a GPU, ``"x86_64 cpu, 2 cores"`` on a CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} {device.type}, {os.cpu_count()} cores"


def header(device: torch.device, scale: str) -> dict[str, Any]:
    """The conditions of a run: device, torch version, date and the data's scale (``scale``)."""
    return {"device": str(device), "device_name": device_name(device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "date": date.today().isoformat(), "scale": scale}


def start_report(device: torch.device, scale: str, args: argparse.Namespace) -> dict[str, Any]:
    """``header(device, scale)`` with the command-line ``args``; print the conditions first."""
    report = header(device, scale)
    print(" | ".join(f"{k}: {v}" for k, v in report.items()))
    report["args"] = vars(args)
    return report


def mean_sd(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """``"93.4 ± 0.5"``: the mean and sample standard deviation of ``values`` times ``scale``.

    By default percent, from fractions; ``mean_sd(losses, 1, 3)`` gives ``"1.677 ± 0.011"``.
    """
    scaled = [scale * v for v in values]
    if len(scaled) == 1:
        return f"{scaled[0]:.{digits}f} (one seed)"
    return f"{statistics.mean(scaled):.{digits}f} ± {statistics.stdev(scaled):.{digits}f}"


def write_json(report: dict[str, Any], path: str | os.PathLike | None) -> None:
    """Write ``report`` to ``path`` (if given) as indented JSON, atomically enough for a rerun."""
    if path is None:
        return
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(path)


def print_table(path: str | os.PathLike, markdown: Callable[[Any], str],
                key: str | None = "results") -> dict[str, Any]:
    """Print the conditions and the table of a report a script wrote with ``--json`` (finished or not).

    ``markdown`` is given ``report[key]``, or the whole report when ``key`` is None.
    """
    report = json.loads(Path(path).read_text())
    print(" | ".join(f"{k}: {report[k]}" for k in ("device", "device_name", "torch", "threads", "date", "scale")))
    print(markdown(report if key is None else report[key]))
    return report

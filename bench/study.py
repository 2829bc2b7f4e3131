"""How the studies in ``bench/`` run: every arm once per seed, chosen on validation, tested once.

A study compares a few versions of a model (its arms). Each run trains one arm
with one seed, keeps the epoch with the best validation accuracy, and scores
that model on the test set once. The seeds go round the outer loop, so a study
cut short still compares every arm over the seeds it finished; the report is
written after every run.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.checkpoint import load_weights
from course_utils.train import evaluate, fit

from report import write_json


def add_study_options(parser: argparse.ArgumentParser, seeds: Sequence[int] = (0, 1, 2)) -> None:
    """The options every study has: ``--seeds``, ``--json FILE`` and ``--table FILE``."""
    parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds))
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE (after every run)")
    parser.add_argument("--table", metavar="FILE", help="only print the table of a report written by --json "
                                                       "(also of a run that was cut short)")


def choose_on_validation(model: nn.Module, loaders: Sequence[DataLoader], *, epochs: int,
                         device: torch.device, **fit_options: Any) -> dict[str, Any]:
    """Train ``model`` on (train, val, test) ``loaders``; test its best-validation epoch once.

    ``fit_options`` go to ``fit`` (``lr=`` or ``optimizer=``, ...). The weights
    of the chosen epoch come back from ``fit``'s checkpoint, in a folder that is
    removed afterwards.
    """
    train_loader, val_loader, test_loader = loaders
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "run.pt"
        history = fit(model, train_loader, val_loader, epochs=epochs, device=device,
                      checkpoint=checkpoint, progress=False, **fit_options)
        chosen = load_weights(copy.deepcopy(model), checkpoint).to(device)
    test = evaluate(chosen, test_loader)  # once, for the chosen epoch
    return {"chosen_epoch": history.best_epoch(), "val_acc": max(history.val_acc),
            "test_acc": test["accuracy"], "last_train_acc": history.train_acc[-1],
            "history": history.to_dict(), "sizes": [len(loader.dataset) for loader in loaders]}


def run_study(report: dict[str, Any], arms: Iterable[str], seeds: Sequence[int],
              one_run: Callable[[str, int], dict[str, Any]], path: str | None,
              describe: Callable[[dict[str, Any]], str] | None = None) -> dict[str, list[dict]]:
    """``one_run(arm, seed)`` for every arm, then the next seed; print each and save ``report``.

    ``describe(run)`` words one run's line; by default, the test accuracy of the
    epoch chosen on validation (what ``choose_on_validation`` returns).
    """
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    report["results"] = results
    for seed in seeds:
        for arm in results:
            t0 = time.perf_counter()
            run = {"seed": seed, **one_run(arm, seed)}
            results[arm].append(run)
            print(f"{arm}, seed {seed}: {(describe or chosen_and_tested)(run)}; {time.perf_counter() - t0:.0f} s",
                  flush=True)
            write_json(report, path)
    return results


def chosen_and_tested(run: dict[str, Any]) -> str:
    """One run of ``choose_on_validation`` in words: its test accuracy, the epoch chosen and the sizes."""
    return (f"test {run['test_acc']:.2%} (epoch {run['chosen_epoch']} chosen on validation, "
            f"{run['val_acc']:.2%}); {run['sizes']} images")

"""Bad arguments get the course's own error: what was given, what is expected, no deep traceback.

Each case is checked where the learner calls: the command line (an argparse error, exit
status 2), ``fit``, ``evaluate``, ``predict``, ``check_output_shape`` and ``classify``.
"""
import re

import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.classify import classify
from course_utils.cli import main
from course_utils.shapes import check_output_shape
from course_utils.train import evaluate, fit, predict


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # 3 classes: labels 0, 1, 2


def loader(labels: torch.Tensor) -> DataLoader:
    return DataLoader(TensorDataset(torch.randn(len(labels), 1, 4, 4), labels), batch_size=4)


GOOD = torch.tensor([0, 1, 2, 1, 0, 2, 1, 0])


def cli(*argv: str):
    return lambda tmp_path: main(["train", "--model", "mnist_resnet", "--data", "mnist", "--no-download",
                                  "--no-tensorboard", "--workers", "0", "--out", str(tmp_path / "run"),
                                  *argv])


def call(function):
    return lambda tmp_path: function()


CASES = {
    # the command line: argparse's own error and exit status 2, before any data is read
    "cli lr negative": (cli("--lr", "-1"), SystemExit, r"argument --lr: must be a number above 0.*not -1"),
    "cli lr zero": (cli("--lr", "0"), SystemExit, r"argument --lr: must be a number above 0.*not 0"),
    "cli lr nan": (cli("--lr", "nan"), SystemExit, r"argument --lr: must be a number above 0.*not nan"),
    "cli epochs zero": (cli("--epochs", "0"), SystemExit, r"argument --epochs: must be a whole number of "
                                                          r"at least 1, not 0"),
    "cli epochs fraction": (cli("--epochs", "1.5"), SystemExit, r"argument --epochs: must be a whole "
                                                                r"number of at least 1, not 1.5"),
    "cli batch size zero": (cli("--batch-size", "0"), SystemExit, r"argument --batch-size: must be a "
                                                                  r"whole number of at least 1, not 0"),
    "cli subset negative": (cli("--subset", "-5"), SystemExit, r"argument --subset: .*at least 1, not -5"),
    "cli val zero": (cli("--val", "0"), SystemExit, r"argument --val: .*at least 1, not 0"),
    "cli stop after zero": (cli("--stop-after", "0"), SystemExit, r"argument --stop-after: .*at least 1, not 0"),
    "cli workers negative": (cli("--workers", "-1"), SystemExit, r"argument --workers: must be a whole "
                                                                 r"number of at least 0, not -1"),
    # fit
    "fit epochs fraction": (call(lambda: fit(model(), loader(GOOD), epochs=1.5, progress=False)),
                            TypeError, r"epochs must be a whole number .*at least 1.*not 1\.5"),
    "fit epochs zero": (call(lambda: fit(model(), loader(GOOD), epochs=0, progress=False)),
                        ValueError, r"epochs must be .*at least 1.*not 0"),
    "fit lr negative": (call(lambda: fit(model(), loader(GOOD), epochs=1, lr=-1, progress=False)),
                        ValueError, r"lr must be a number above 0.*not -1"),
    "fit float labels": (call(lambda: fit(model(), loader(GOOD.float()), epochs=1, progress=False)),
                         TypeError, r"fit's labels must be class indices.*integer.*torch\.float32.*\.long\(\)"),
    "fit labels too large": (call(lambda: fit(model(), loader(GOOD + 1), epochs=1, progress=False)),
                             ValueError, r"fit's labels must be class indices 0\.\.2 \(the model has 3 "
                                         r"outputs\).*from 1 to 3"),
    "fit negative labels": (call(lambda: fit(model(), loader(GOOD - 1), epochs=1, progress=False)),
                            ValueError, r"fit's labels must be class indices 0\.\.2.*from -1 to 1"),
    "fit labels of another shape": (call(lambda: fit(model(), loader(GOOD.view(-1, 1)), epochs=1,
                                                     progress=False)),
                                    ValueError, r"one label per image.*shape \(4,\).*\(4, 1\)"),
    # evaluate and predict
    "evaluate float labels": (call(lambda: evaluate(model(), loader(GOOD.double()), device="cpu")),
                              TypeError, r"evaluate's labels must be class indices.*torch\.float64"),
    "evaluate labels too large": (call(lambda: evaluate(model(), loader(GOOD * 5), device="cpu")),
                                  ValueError, r"evaluate's labels must be class indices 0\.\.2 .*from 0 to 10"),
    "predict empty loader": (call(lambda: predict(model(), loader(GOOD[:0]), device="cpu")),
                             ValueError, r"predict's loader yielded no batches.*empty"),
    # check_output_shape
    "check_output_shape expected None": (call(lambda: check_output_shape(nn.Conv2d(3, 8, 3), (1, 3, 8, 8), None)),
                                         TypeError, r"expected=None.*tuple of ints.*-1 or None.*"
                                                    r"e\.g\. expected=\(-1, 64, 32, 32\)"),
    "check_output_shape expected int": (call(lambda: check_output_shape(nn.Conv2d(3, 8, 3), (1, 3, 8, 8), 8)),
                                        TypeError, r"expected=8.*tuple of ints"),
    "check_output_shape expected float size": (call(lambda: check_output_shape(nn.Conv2d(3, 8, 3), (1, 3, 8, 8),
                                                                               (1, 8, 6.0, 6))),
                                               ValueError, r"expected=\(1, 8, 6\.0, 6\).*6\.0.*whole number"),
    # classify
    "classify top zero": (call(lambda: classify(model(), Image.new("RGB", (4, 4)), "mnist", top=0)),
                          ValueError, r"top must be a whole number of at least 1, not 0"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_argument_gets_the_courses_own_error(case, tmp_path, capsys):
    run, error, message = CASES[case]
    with pytest.raises(error) as raised:
        run(tmp_path)
    if error is SystemExit:  # the command line: argparse's usage line and message, status 2
        assert raised.value.code == 2
        err = capsys.readouterr().err
        assert "usage: python -m course_utils train" in err and "Traceback" not in err
        assert re.search(message, err), err
        assert not (tmp_path / "run").exists()  # refused before anything was written
    else:
        assert re.search(message, str(raised.value), re.DOTALL), str(raised.value)
        assert "torch" not in type(raised.value).__module__

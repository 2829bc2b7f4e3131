import shutil

import matplotlib
import pytest
import torch

from course_utils.models import ResidualBlock
from course_utils.train import History
from course_utils.viz import (
    GraphvizNotFoundError,
    confusion_matrix,
    has_dot,
    per_class_accuracy,
    plot_confusion_matrix,
    plot_history,
    render_graph,
    show_images,
)

matplotlib.use("Agg")

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")


def test_render_graph_builds_digraph_with_named_parameters_and_the_skip_addition():
    graph = render_graph(ResidualBlock(4, 4), (1, 4, 6, 6))
    source = graph.source
    assert "conv1.weight" in source and "bn2.bias" in source
    assert "AddBackward0" in source  # the skip connection


@needs_dot
def test_render_graph_writes_a_png_when_dot_is_present(tmp_path):
    path = render_graph(ResidualBlock(4, 8, stride=2), (1, 4, 6, 6), path=tmp_path / "block")
    assert path == tmp_path / "block.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [path]  # no stray DOT source left beside it


@needs_dot
def test_render_graph_leaves_a_dot_file_of_the_same_name_alone(tmp_path):
    mine = tmp_path / "block.gv"
    mine.write_text("digraph mine { a -> b }  // the learner's own notes\n")
    path = render_graph(ResidualBlock(2, 2), (1, 2, 4, 4), path=tmp_path / "block.png")
    assert path == tmp_path / "block.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mine.read_text() == "digraph mine { a -> b }  // the learner's own notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["block.gv", "block.png"]


@needs_dot
def test_render_graph_writes_only_the_requested_file(tmp_path):
    others = {"block": "no suffix", "block.gv": "dot", "block.dot": "dot too", "block.svg": "<svg/>"}
    for name, text in others.items():
        (tmp_path / name).write_text(text)
    path = render_graph(ResidualBlock(2, 2), (1, 2, 4, 4), path=tmp_path / "block")  # -> block.png
    assert path == tmp_path / "block.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p != path} == others


def test_render_graph_without_dot_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on PATH
    assert not has_dot()
    graph = render_graph(ResidualBlock(2, 2), (1, 2, 4, 4))  # building still works
    assert "AddBackward0" in graph.source
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz.*brew.*conda.*Colab"):
        render_graph(ResidualBlock(2, 2), (1, 2, 4, 4), path=tmp_path / "g.png")
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz.*brew.*conda.*Colab"):
        graph._repr_mimebundle_()  # what Jupyter calls to show the graph inline


@needs_dot
def test_render_graph_displays_inline_as_svg_when_dot_is_present():
    bundle = render_graph(ResidualBlock(2, 2), (1, 2, 4, 4))._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_render_graph_leaves_batchnorm_statistics_and_modes_alone():
    from course_utils.models import resnet18

    model = resnet18(stem="imagenet")
    model.layer1.eval()  # a part frozen on purpose keeps its mode
    before = model.bn1.running_mean.clone()
    graph = render_graph(model, (1, 3, 32, 32))  # layer4 sees 1x1 maps: a batch of 1 in train mode fails
    assert "layer4.1.conv2.weight" in graph.source
    assert torch.equal(model.bn1.running_mean, before)
    assert model.training and model.layer2.training and not model.layer1.training


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    m = confusion_matrix(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    acc = per_class_accuracy(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0]), ["a", "b", "c"])
    assert acc == pytest.approx({"a": 0.5, "b": 1.0, "c": 2 / 3})


def test_plots_return_figures_with_expected_axes():
    h = History()
    for e in (1, 2):
        h.append(epoch=e, train_loss=1.0 / e, train_acc=0.5, test_loss=1.0, test_acc=0.5, lr=0.1,
                 seconds=1.0, examples_per_s=10.0)
    assert len(plot_history(h).axes) == 2
    fig = show_images(torch.randn(10, 3, 8, 8), torch.arange(10), [str(i) for i in range(10)],
                      predictions=torch.zeros(10, dtype=torch.long), ncols=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 10 and titles[1] == "0\n(true: 1)"
    cm = plot_confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), ["x", "y"])
    assert cm.axes[0].get_xlabel() == "predicted"


def test_show_images_rejects_a_single_image_with_advice():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        show_images(torch.zeros(3, 8, 8))


def test_plot_history_draws_the_recorded_splits_and_marks_the_kept_epoch():
    h = History()
    for e, val in ((1, 0.6), (2, 0.8), (3, 0.7)):
        h.append(epoch=e, train_loss=1.0 / e, train_acc=0.5 + e / 10, val_loss=1.0, val_acc=val, lr=0.1,
                 seconds=1.0, examples_per_s=10.0)
    ax_loss, ax_acc = plot_history(h).axes
    labels = [line.get_label() for line in ax_acc.get_lines()]
    assert labels == ["train", "val", "kept (best val)"]  # no test line: it was not recorded
    kept = ax_acc.get_lines()[-1]
    assert list(kept.get_xdata()) == [2, 2]

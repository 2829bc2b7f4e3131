"""course_utils: the plumbing behind the "ResNet, hands-on" notebooks.

One module, one job:

* ``config``    environment (data folder, smoke mode, device), run lengths and run folders
* ``checks``    argument checks shared by every part (``check_whole_number``)
* ``datasets``  MNIST, Fashion-MNIST and CIFAR-10 on disk: classes, statistics, files, transforms
* ``dataset_files``  reading the datasets' files safely (no pickle runs code; headers checked)
* ``data``      loaders: batches made on the host or on the device, one share per rank
* ``staging``   checking and installing a classroom's copy of the datasets (``fetch-data``)
* ``pretrained`` torchvision's ImageNet weights for ResNet-18: checked, staged, read without running code
* ``transfer``  fine-tuning a pretrained ResNet: which parts learn, a few-shot split, the resize in front
* ``shapes``    output-size arithmetic for convolutions and pooling, shape checks
* ``models``    the reference networks the notebooks rebuild step by step
* ``fast``      mixed precision and memory format: what makes the same training faster on a GPU
* ``train``     ``fit`` / ``evaluate``: the training loop, checkpoints, history
* ``classify``  your own picture, prepared like the training images, then classified
* ``viz``       torchviz graphs and matplotlib plots
* ``exercises`` the self-checking exercises of the notebooks
* ``website``   the rendered course: every notebook executed into a static site (``python -m course_utils site``)
"""
from importlib import import_module

from course_utils.config import data_dir, describe_run, get_device, is_smoke, pick, run_dir

_SUBMODULES = ("datasets", "data", "models", "shapes", "train", "viz")


def __getattr__(name: str):
    """``course_utils.data`` and its siblings are imported on first use, not with the package.

    So ``import course_utils`` stays quick, and ``python -m course_utils doctor`` still runs
    (and says what is wrong) when torch or torchvision is broken.
    """
    if name in _SUBMODULES:
        return import_module(f"course_utils.{name}")
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")

__all__ = [
    "datasets", "data", "models", "shapes", "train", "viz",
    "data_dir", "describe_run", "get_device", "is_smoke", "pick", "run_dir",
]
__version__ = "0.1.0"

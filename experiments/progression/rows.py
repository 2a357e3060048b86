"""The rows of the study: one registry, in year order, beside ImageNet's published top-5 errors.

A row is run with `python -m experiments.progression run --row NAME --seed S`. Kinds:
  'descriptor_svm': `settings` is a `descriptor.DescriptorSettings` (HOG-like features + linear SVM);
  'cnn': `settings` is the path of a cnnjax training config file (its `get_config()`), run by
         `cnnjax.train.train_and_evaluate`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from experiments.progression.descriptor import DescriptorSettings
from experiments.progression.hog import HogSpec
from experiments.progression.svm import SvmSpec

KINDS = ("descriptor_svm", "cnn")
SEEDS = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class ImageNetFigure:
    """One year's ImageNet (ILSVRC) top-5 error, %, with its published source."""

    year: int
    entry: str
    top5_error: float
    source: str


_ILSVRC = "Russakovsky et al. 2015 (IJCV), the ILSVRC winners' top-5 error"

IMAGENET: tuple[ImageNetFigure, ...] = (
    ImageNetFigure(2010, "Hand-designed descriptors + SVM", 28.2, f"{_ILSVRC}: NEC-UIUC"),
    ImageNetFigure(2011, "Compressed Fisher vectors + SVM", 25.8, f"{_ILSVRC}: XRCE"),
    ImageNetFigure(2012, "AlexNet", 16.4, "Krizhevsky et al. 2012, Table 2: 5 CNNs, test"),
    ImageNetFigure(
        2013,
        "a variant of AlexNet (Clarifai; ZFNet's year)",
        11.7,
        f"{_ILSVRC}: Clarifai; Zeiler & Fergus 2014's own 6-net ensemble: 14.8",
    ),
    ImageNetFigure(2014, "VGG", 7.3, "Simonyan & Zisserman 2015, Table 7: the ILSVRC submission, test"),
    ImageNetFigure(2014, "GoogLeNet", 6.6, "Szegedy et al. 2015: 6.67, 7 models x 144 crops"),
    ImageNetFigure(
        2015,
        "deep residual nets",
        4.5,
        "He et al. 2016, Table 4: one ResNet-152, validation, 4.49; the ensemble's test error 3.57 (Table 5)",
    ),
)


def imagenet_figure(year: int, entry: str) -> ImageNetFigure:
    """The ImageNet figure of `year` whose entry starts with `entry`."""
    for figure in IMAGENET:
        if figure.year == year and figure.entry.startswith(entry):
            return figure
    raise ValueError(f"imagenet_figure: no entry {entry!r} in {year} among {[(f.year, f.entry) for f in IMAGENET]}")


@dataclasses.dataclass(frozen=True)
class Row:
    """A row of the study.

    Attributes:
      name: the row's id (`--row NAME`; its result files are results/NAME/seed<S>.json).
      year: the year it stands for.
      model: what is trained, in words.
      kind: one of `KINDS`.
      adaptation: how the ImageNet-era method is adapted to 28x28x1 Fashion-MNIST.
      imagenet: the ImageNet figure of its year (None before ImageNet).
      settings: the kind's settings (see the module docstring).
      seeds: the seeds of the study.
    """

    name: str
    year: int
    model: str
    kind: str
    adaptation: str
    imagenet: ImageNetFigure | None
    settings: Any
    seeds: tuple[int, ...] = SEEDS

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")

    def command(self, seed: int) -> str:
        """The command that runs (row, seed)."""
        return f"python -m experiments.progression run --row {self.name} --seed {seed}"


ROWS: dict[str, Row] = {
    row.name: row
    for row in (
        Row(
            name="lenet5",
            year=1998,
            model="LeNet-5 (modern: 6@5x5 pad 2, max-pool, 16@5x5, max-pool, 120-84-10, ReLU)",
            kind="cnn",
            adaptation="native 28x28x1 input (conv1 padded by 2, as the 32x32 original sees a padded digit)",
            imagenet=None,
            settings="experiments/configs/lenet5_fashion_mnist.py",
        ),
        Row(
            name="hog_svm",
            year=2010,
            model="HOG-like descriptors (Sobel gradients, soft-binned cell histograms, L2-Hys blocks) + linear SVM",
            kind="descriptor_svm",
            adaptation=(
                "the 2010/2011 stand-in: dense HOG on the whole 28x28 image (3- and 6-pixel cells concatenated, "
                "12 signed orientation bins: the dark background makes the contrast sign informative) instead of "
                "SIFT/Fisher-vector encodings of large images; one linear multiclass SVM (multiclass hinge loss) on "
                "the standardised descriptor; settings chosen on the last 10,000 training images"
            ),
            imagenet=imagenet_figure(2010, "Hand-designed"),
            # Chosen by `python -m experiments.progression tune --row hog_svm` (results/hog_svm/tune.json):
            # validation error 7.94% (cells 4, unsigned 9 bins, the Dalal-Triggs default: 9.52% at its best C).
            settings=DescriptorSettings(hog=HogSpec(cells=(3, 6), orientations=12, signed=True), svm=SvmSpec(C=3e-4)),
        ),
        Row(
            name="alexnet",
            year=2012,
            model="AlexNet (two towers, LRN, dropout 0.5; registered `alexnet`, small_input, width 0.25)",
            kind="cnn",
            adaptation=(
                "conv1 3x3/1 and no strided convs (small_input: the three 3x3/2 max-pools downsample 28 -> 2), a "
                "quarter of the conv widths (24-64-96-96-64) and fc 1024-1024 for the time budget, He-normal init; "
                "SGD momentum 0.9, lr 0.01 /10 at 50% and 75%, weight decay 5e-4, 2-pixel shifts and flips"
            ),
            imagenet=imagenet_figure(2012, "AlexNet"),
            settings="experiments/configs/alexnet_fashion_mnist.py",
        ),
        Row(
            name="zfnet",
            year=2013,
            model="ZFNet (dense conv3-5, pool then LRN, dropout 0.5; registered `zfnet`, small_input, width 0.25)",
            kind="cnn",
            adaptation=(
                "conv1 3x3/1 and conv2 at stride 1 (small_input: ZFNet's smaller first filter and stride taken to "
                "28x28; ceil-mode pools 28 -> 4), a quarter of the conv widths and fc 1024-1024, He-normal init; "
                "AlexNet's SGD recipe (momentum 0.9, lr 0.01 /10 at 50% and 75%, weight decay 5e-4), shifts, flips"
            ),
            imagenet=imagenet_figure(2013, "a variant of AlexNet"),
            settings="experiments/configs/zfnet_fashion_mnist.py",
        ),
        Row(
            name="vgg",
            year=2014,
            model="VGG-11 (configuration A, no BN, dropout 0.5; registered `vgg11`, width 0.25)",
            kind="cnn",
            adaptation=(
                "images zero-padded to 32x32 for the five 2x2 pools, a quarter of the conv widths (16-...-128) and "
                "the CIFAR head (fc 1024-1024); configuration A (the one the paper trains from scratch) with Glorot "
                "init (the paper's footnote 1; torchvision's N(0, 0.01^2) fc init stalls at ln 10 at this width, "
                "checked on validation); SGD momentum 0.9, batch 256, lr 0.01 /10 at 50% and 75%, weight decay 5e-4, "
                "shifts, flips"
            ),
            imagenet=imagenet_figure(2014, "VGG"),
            settings="experiments/configs/vgg11_fashion_mnist.py",
        ),
        Row(
            name="googlenet",
            year=2014,
            model="GoogLeNet (the paper's layout: LRN, 5x5 branches, no BN, dropout 0.4; registered `googlenet`)",
            kind="cnn",
            adaptation=(
                "conv1 3x3/1 (small_input: inception 3 at 7x7, 4 at 4x4, 5 at 2x2), a quarter of the widths, no "
                "auxiliary heads (too small maps); SGD momentum 0.9, lr 0.01 /10 at 50% and 75%, weight decay "
                "2e-4, shifts, flips"
            ),
            imagenet=imagenet_figure(2014, "GoogLeNet"),
            settings="experiments/configs/googlenet_fashion_mnist.py",
        ),
        Row(
            name="resnet",
            year=2015,
            model="ResNet-20 (CIFAR layout, n = 3, 16-32-64, option A shortcuts, BN; registered `resnet20`)",
            kind="cnn",
            adaptation=(
                "a stride-2 stem conv (stem_stride=2: stages at 14, 7, 4 pixels, a quarter of the MACs), chosen on "
                "validation over the full-resolution stem at the same budget (7.58% vs 8.93%, 18 vs 4 epochs); the "
                "paper's CIFAR recipe: SGD momentum 0.9, lr 0.1 after a half-epoch warm-up, /10 at 50% and 75%, "
                "weight decay 1e-4, 2-pixel shifts, flips"
            ),
            imagenet=imagenet_figure(2015, "deep residual"),
            settings="experiments/configs/resnet20s2_fashion_mnist.py",
        ),
    )
}


def get_row(name: str, rows: dict[str, Row] | None = None) -> Row:
    """The row called `name` (in `rows`, default `ROWS`)."""
    rows = ROWS if rows is None else rows
    if name not in rows:
        raise ValueError(f"row: expected one of {list(rows)}, got {name!r}")
    return rows[name]

"""Figures from arrays: each function returns a matplotlib `Figure` drawn with the headless Agg canvas (no pyplot,
no global state), whatever the workdir or model the arrays came from.

`title` is the first line of each figure's title (the callers put the model, the run and the layer there); the
function adds a line saying what the figure shows. Images are (H, W, C) floats in [0, 1], C = 1 or 3.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnjax.viz.analysis import Occlusion

DPI = 100
PANEL = 1.6  # inches per image panel


def new_figure(width: float, height: float) -> Figure:
    """A Figure of width x height inches on an Agg canvas (PNG size: DPI pixels per inch)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def file_format(path: str | Path) -> str:
    """The image format that `path`'s suffix names ('png', 'pdf', 'svg', 'jpg', ...: those matplotlib writes).

    Raises:
      ValueError: the suffix is missing or names no format matplotlib writes.
    """
    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix not in formats:
        raise ValueError(
            f"path: expected a file name ending in one of {', '.join('.' + f for f in sorted(formats))}, got "
            f"{str(path)!r}; e.g. {str(Path(path).with_suffix('.png'))!r}"
        )
    return suffix


def save(figure: Figure, path: str | Path) -> Path:
    """Writes `figure` in the format of `path`'s suffix (`file_format`; raster formats at DPI pixels per inch of the
    figure's size), creating missing folders; returns the path."""
    path = Path(path)
    suffix = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format=suffix)
    return path


def _show_image(ax, image: np.ndarray, *, pixel_axes: bool = True) -> None:
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(image)
    if pixel_axes:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    else:
        ax.set_xticks([])
        ax.set_yticks([])


def _grid(count: int, max_cols: int) -> tuple[int, int]:
    cols = min(count, max_cols)
    return math.ceil(count / cols), cols


def _scaled(w: np.ndarray) -> np.ndarray:
    """`w` mapped linearly from its own min..max to 0..1."""
    low, high = w.min(), w.max()
    return (w - low) / (high - low) if high > low else np.full_like(w, 0.5)


def filters_figure(kernel: np.ndarray, *, title: str, max_filters: int = 32, max_inputs: int = 16) -> Figure:
    """The learned kernels of a conv layer, HWIO (kh, kw, in, out).

    One input channel: a grey image per filter; three: an RGB image per filter (a colour model's first layer, as
    AlexNet's figure); more: one image with a column per filter and a row per input channel. Each filter is scaled
    to its own min..max (stated in the title); at most `max_filters` filters and `max_inputs` input channels are
    shown.
    """
    kh, kw, inputs, outputs = kernel.shape
    kernel = np.asarray(kernel, np.float32)
    shown, shown_in = min(outputs, max_filters), min(inputs, max_inputs) if inputs not in (1, 3) else inputs
    scaled = [_scaled(kernel[:, :, :shown_in, k]) for k in range(shown)]
    cap = f"the first {shown} of {outputs} filters" if shown < outputs else f"all {outputs} filters"
    if shown_in < inputs:
        cap += f", the first {shown_in} of {inputs} input channels"
    if inputs in (1, 3):
        rows, cols = _grid(shown, 8)
        figure = new_figure(max(cols * 1.0, 4.5), rows * 1.1 + 0.9)
        axes = figure.subplots(rows, cols, squeeze=False)
        for k, ax in enumerate(axes.flat):
            if k < shown:
                _show_image(ax, scaled[k], pixel_axes=False)
                ax.set_title(f"filter {k}", fontsize=8)
            else:
                ax.set_axis_off()
        figure.supxlabel(
            f"{kh}x{kw} kernel, {'RGB' if inputs == 3 else 'grey'} = input channel{'s' * (inputs > 1)}", fontsize=9
        )
    else:  # one image: tiles (input channel c, filter k) separated by 1-pixel white gaps
        mosaic = np.full((shown_in * (kh + 1) - 1, shown * (kw + 1) - 1), np.nan, np.float32)
        for k in range(shown):
            for c in range(shown_in):
                mosaic[c * (kh + 1) : c * (kh + 1) + kh, k * (kw + 1) : k * (kw + 1) + kw] = scaled[k][:, :, c]
        figure = new_figure(max(shown * 0.45 + 1.5, 6.0), shown_in * 0.45 + 1.8)
        ax = figure.subplots()
        ax.imshow(mosaic, cmap=colormaps["gray"].with_extremes(bad="white"), vmin=0.0, vmax=1.0)
        ax.set_xticks([k * (kw + 1) + (kw - 1) / 2 for k in range(shown)], [str(k) for k in range(shown)], fontsize=7)
        ax.set_yticks(
            [c * (kh + 1) + (kh - 1) / 2 for c in range(shown_in)], [str(c) for c in range(shown_in)], fontsize=7
        )
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel("filter (output channel)")
        ax.set_ylabel("input channel")
    figure.suptitle(
        f"{title}\nlearned filters {kh}x{kw}x{inputs} ({cap})\neach filter scaled to its own "
        "min (black) .. max (white)",
        fontsize=9,
    )
    return figure


def featuremaps_figure(image: np.ndarray, maps: np.ndarray, *, title: str, max_maps: int = 32) -> Figure:
    """The input `image` beside the activation maps (h, w, channels) of a layer, one panel per channel (at most
    `max_maps`, stated in the title), on one colour scale with a colour bar."""
    if not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"max_maps: expected a positive number of channels to show, got {max_maps!r}")
    channels = maps.shape[-1]
    shown = min(channels, max_maps)
    rows, cols = _grid(shown, 8)
    figure = new_figure(PANEL * 1.6 + cols * 1.15 + 0.8, max(rows * 1.2 + 0.9, 3.0))
    left, right = figure.subfigures(1, 2, width_ratios=[PANEL * 1.6, cols * 1.15 + 0.8])
    ax = left.subplots()
    _show_image(ax, image)
    ax.set_title("input", fontsize=9)
    axes = right.subplots(rows, cols, squeeze=False)
    low, high = float(maps[..., :shown].min()), float(maps[..., :shown].max())
    for k, ax in enumerate(axes.flat):
        if k < shown:
            im = ax.imshow(maps[:, :, k], cmap="viridis", vmin=low, vmax=high)
            ax.set_title(f"channel {k}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.set_axis_off()
    right.colorbar(im, ax=axes, shrink=0.8, label="activation")
    cap = f"the first {shown} of {channels} channels" if shown < channels else f"all {channels} channels"
    figure.suptitle(
        f"{title}\nthe layer's output maps {maps.shape[0]}x{maps.shape[1]} ({cap}), one colour scale", fontsize=9
    )
    return figure


def _class_colours(count: int) -> ListedColormap:
    base = colormaps["tab10" if count <= 10 else "tab20"]
    colours = [base(i % base.N) for i in range(count)]
    return ListedColormap(colours)


def occlusion_figure(
    image: np.ndarray,
    result: Occlusion,
    *,
    class_index: int,
    true_class: int,
    class_names: Sequence[str],
    title: str,
    patch_grey: float = 0.5,
) -> Figure:
    """Zeiler & Fergus's occlusion figure: the input (with one patch of grey level `patch_grey` drawn),
    P(`class_index`) with the patch centred at each position, and the most probable class there."""
    probs = result.probabilities
    size, stride = result.size, result.stride
    centre_y, centre_x = result.top + (size - 1) / 2, result.left + (size - 1) / 2
    half = stride / 2
    extent = (centre_x[0] - half, centre_x[-1] + half, centre_y[-1] + half, centre_y[0] - half)
    figure = new_figure(3 * 3.2 + 0.6, 3.6)
    ax_image, ax_prob, ax_class = figure.subplots(1, 3)
    _show_image(ax_image, image)
    ax_image.add_patch(
        Rectangle(
            (result.left[len(result.left) // 2] - 0.5, result.top[len(result.top) // 2] - 0.5),
            size,
            size,
            facecolor=str(patch_grey),
            edgecolor="red",
            linewidth=1,
        )
    )
    ax_image.set_title(
        f"input, true class: {class_names[true_class]}\n(grey patch {size}x{size}, stride {stride})", fontsize=9
    )
    im = ax_prob.imshow(probs[:, :, class_index], cmap="viridis", vmin=0.0, vmax=1.0, extent=extent)
    ax_prob.set_title(f"P({class_names[class_index]}) with the patch there", fontsize=9)
    figure.colorbar(im, ax=ax_prob, shrink=0.85, label=f"P({class_names[class_index]})")
    count = probs.shape[-1]
    im = ax_class.imshow(
        probs.argmax(-1),
        cmap=_class_colours(count),
        vmin=-0.5,
        vmax=count - 0.5,
        extent=extent,
        interpolation="nearest",
    )
    ax_class.set_title("most probable class", fontsize=9)
    bar = figure.colorbar(im, ax=ax_class, shrink=0.85, ticks=range(count))
    bar.ax.set_yticklabels(list(class_names), fontsize=7)
    for ax in (ax_prob, ax_class):
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
        ax.set_xlabel("patch centre x (pixel)")
        ax.set_ylabel("patch centre y (pixel)")
    figure.suptitle(
        f"{title}\nocclusion sensitivity (Zeiler & Fergus): the class probabilities as a grey patch "
        "slides over the image",
        fontsize=9,
    )
    return figure


def saliency_figure(image: np.ndarray, maps: Mapping[str, np.ndarray], *, class_name: str, title: str) -> Figure:
    """The input beside each saliency map (H, W, C) of `maps` ({panel title: gradient}), drawn as the largest
    absolute gradient over channels (Simonyan et al.), each with its colour bar."""
    figure = new_figure(3.2 * (1 + len(maps)) + 0.5, 3.5)
    axes = figure.subplots(1, 1 + len(maps), squeeze=False)[0]
    _show_image(axes[0], image)
    axes[0].set_title("input", fontsize=9)
    for ax, (name, gradient) in zip(axes[1:], maps.items(), strict=True):
        im = ax.imshow(np.abs(gradient).max(axis=-1), cmap="inferno")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
        figure.colorbar(im, ax=ax, shrink=0.85, label=f"|d logit({class_name}) / d input|")
    figure.suptitle(
        f"{title}\nsaliency of class {class_name!r}: gradient of its logit with respect to the input", fontsize=9
    )
    return figure


def kernels_figure(image: np.ndarray, responses: Mapping[str, np.ndarray], *, title: str) -> Figure:
    """The grey levels of `image` and each fixed filter's response ({filter name: (H, W)}), one panel per filter
    titled with its name, with its colour bar: grey for a non-negative response (the blurs), else red > 0 > blue on
    a symmetric scale."""
    rows, cols = _grid(len(responses) + 1, 4)
    figure = new_figure(cols * 2.6, rows * 2.3 + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False).flat
    grey = np.asarray(image, np.float32).mean(axis=-1, keepdims=True)
    _show_image(axes[0], grey, pixel_axes=False)
    axes[0].set_title("input (grey levels)", fontsize=9)
    for ax, (name, response) in zip(axes[1:], responses.items(), strict=False):  # the grid may have spare cells
        bound = float(np.abs(response).max()) or 1.0
        if response.min() >= 0:  # a blur: grey levels
            im = ax.imshow(response, cmap="gray", vmin=0.0, vmax=bound)
        else:
            im = ax.imshow(response, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        figure.colorbar(im, ax=ax, shrink=0.8)
    for ax in axes[len(responses) + 1 :]:
        ax.set_axis_off()
    figure.suptitle(
        f"{title}\nthe fixed 3x3 filters of cnnjax.functional (weights as printed, 'SAME' padding); "
        "colour: response (signed: red > 0 > blue; non-negative: grey)",
        fontsize=9,
    )
    return figure


def lr_steps(records: Sequence[Mapping[str, Any]]) -> list[float]:
    """The epochs where the logged learning rate jumps from one constant value to another (a step schedule's
    drops); smooth schedules (warm-up, cosine) have none."""
    pairs = [(r["epoch"], r["learning_rate"]) for r in records if "learning_rate" in r]
    same = [math.isclose(a[1], b[1], rel_tol=1e-6) for a, b in itertools.pairwise(pairs)]  # same[i]: i -> i+1 flat
    return [
        pairs[i + 1][0]
        for i in range(len(same))
        if not same[i] and (i == 0 or same[i - 1]) and (i + 1 == len(same) or same[i + 1])
    ]


def curves_figure(runs: Sequence[tuple[str, Sequence[Mapping[str, Any]], tuple[str, str]]], *, title: str) -> Figure:
    """Loss, the task's metric and the learning rate against epoch for each (run name, metrics.jsonl records,
    (training metric key, test metric key)), e.g. ('train_accuracy', 'test_accuracy') or ('train_mse',
    'test_mse'): training (solid, per logged interval) and test (dashed with dots, per evaluation);
    learning-rate steps dotted."""
    figure = new_figure(14.0, 4.2)
    ax_loss, ax_metric, ax_lr = figure.subplots(1, 3)
    colours = colormaps["tab10"]
    metric_names = []
    for i, (name, records, (train_key, test_key)) in enumerate(runs):
        colour = colours(i % 10)
        train_name, test_name = train_key.removeprefix("train_"), test_key.removeprefix("test_")
        metric = train_name if train_name == test_name else f"{train_name} (train), {test_name} (test)"
        metric_names += [metric] if metric not in metric_names else []
        for ax, (train, test) in ((ax_loss, ("train_loss", "test_loss")), (ax_metric, (train_key, test_key))):
            for key, style, part in ((train, "-", "train"), (test, "--o", "test")):
                points = [(r["epoch"], r[key]) for r in records if key in r]
                if not points:  # e.g. no evaluation yet: no empty entry in the legend
                    continue
                ax.plot(
                    [e for e, _ in points],
                    [v for _, v in points],
                    style if len(points) > 1 else "o",  # a line through one point would draw nothing
                    color=colour,
                    label=f"{name} {part}",
                    linewidth=1,
                    markersize=3,
                )
            for epoch in lr_steps(records):
                ax.axvline(epoch, color=colour, linestyle=":", linewidth=1)
        with_lr = [r for r in records if "learning_rate" in r]
        ax_lr.plot([r["epoch"] for r in with_lr], [r["learning_rate"] for r in with_lr], "-", color=colour, label=name)
    metric_label = "; ".join(metric_names)
    for ax, label in ((ax_loss, "loss"), (ax_metric, metric_label), (ax_lr, "learning rate")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax_loss.set_title("loss (train: mean over each logging interval)", fontsize=9)
    ax_metric.set_title(metric_label, fontsize=9)
    ax_lr.set_title("learning rate (dotted lines: its steps)", fontsize=9)
    figure.suptitle(f"{title}\ntraining curves from metrics.jsonl", fontsize=9)
    return figure


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], *, title: str) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted) as counts and row-normalised, each cell
    annotated, with colour bars."""
    count = len(class_names)
    side = max(4.0, 0.4 * count + 1.8)
    figure = new_figure(2 * side + 2.0, side + 0.6)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = counts / np.maximum(rows, 1)
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    for ax, values, fmt, label in zip(
        figure.subplots(1, 2),
        (counts, normalised),
        ("{:d}", "{:.2f}"),
        ("examples", "fraction of the true class"),
        strict=True,
    ):
        im = ax.imshow(values, cmap="Blues", vmin=0)
        figure.colorbar(im, ax=ax, shrink=0.8, label=label)
        ax.set_xticks(range(count), list(class_names), rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(count), list(class_names), fontsize=8)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        if count <= 20:
            threshold = values.max() / 2
            for (i, j), value in np.ndenumerate(values):
                ax.text(
                    j,
                    i,
                    fmt.format(value.item()),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if value > threshold else "black",
                )
        ax.set_title("counts" if values is counts else "row-normalised (recall on the diagonal)", fontsize=9)
    figure.suptitle(
        f"{title}\ntest-set confusion matrix, {int(counts.sum())} images, accuracy {accuracy:.4f}", fontsize=9
    )
    return figure


def errors_figure(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    *,
    indices: Sequence[int],
    title: str,
) -> Figure:
    """Misclassified images (N, H, W, C), each titled with its test-set index (`indices`), its true class
    (`labels` (N,)) and the predicted class with its probability (`probabilities` (N, classes))."""
    if len(images) == 0:
        raise ValueError("images: expected at least one misclassified example, got none (every image is right)")
    rows, cols = _grid(len(images), 6)
    figure = new_figure(cols * 1.9, rows * 2.2 + 0.6)
    for k, ax in enumerate(figure.subplots(rows, cols, squeeze=False).flat):
        if k >= len(images):
            ax.set_axis_off()
            continue
        predicted = int(probabilities[k].argmax())
        _show_image(ax, images[k], pixel_axes=False)
        ax.set_title(
            f"#{indices[k]} true: {class_names[int(labels[k])]}\npred: {class_names[predicted]} "
            f"p={probabilities[k, predicted]:.2f}",
            fontsize=8,
        )
    figure.suptitle(f"{title}\nthe {len(images)} most confidently misclassified test images", fontsize=9)
    return figure

"""`cnnjax viz KIND --workdir DIR ...`: the figures of a training workdir, as image files (PNG by default).

`add_viz_parser(subparsers)` declares the arguments, `viz(args, extra)` runs the command (cnnjax/cli.py registers
both). Each kind is a function `(run, args) -> [(file stem, Figure, caption)]`.
"""

from __future__ import annotations

import argparse
import html
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

from cnnjax.train.rng import check_seed
from cnnjax.viz import analysis, figures
from cnnjax.viz.run import Run, load_run

Output = list[tuple[str, Figure, str]]

EPILOG = """\
kinds:
  filters      the learned kernels of a conv layer (--layer; default: the first)
  featuremaps  a layer's activation maps for test image --image (--layer; default: the first with maps)
  occlusion    P(class) and the most probable class as a grey patch slides over the image (--patch-size, --stride)
  saliency     gradient of the class logit with respect to the input (--smoothgrad N for SmoothGrad, with
               --noise and --seed)
  kernels      the fixed 3x3 filters of cnnjax.functional applied to test image --image
  curves       train/test loss and the task's metric (accuracy, mse, ...), learning rate against epoch
               (several --workdir: one plot; a run whose records stop before its planned end is labelled
               'unfinished')
  confusion    the test-set confusion matrix, counts and row-normalised
  errors       the most confidently misclassified test images (--count)
  all          every kind (filters and feature maps of each layer, up to 8) into a folder with index.html

Layer names are the 'layer' column of `cnnjax summary MODEL` (Flax module paths, e.g. conv1, pool1,
layer2_0/conv1). occlusion, saliency, confusion and errors need a classifier; all skips them for other models.
--class (occlusion, saliency) defaults to the image's true class.

Output: the file format follows the --out suffix (.png, .pdf, .svg, .jpg, ...). The default DIR/viz/ belongs to the
run and is rewritten by each command; an --out that exists (a file, or for all a folder holding files) is replaced
only with --overwrite, so committed figures are never replaced by accident.

Data: figures of test images (featuremaps, occlusion, saliency, kernels, confusion, errors) load the run's dataset
and check its files against those the run's manifest.json records (sha256); other data is refused, naming the file.

examples:
  cnnjax viz all --workdir runs/lenet5 --out figures/lenet5
  cnnjax viz featuremaps --workdir runs/lenet5 --layer conv2 --image 3
  cnnjax viz occlusion --workdir runs/lenet5 --image 3 --patch-size 8 --stride 2 --class Trouser
  cnnjax viz curves --workdir runs/a --workdir runs/b --out curves.png
"""


def add_viz_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "viz",
        help="figures of a training workdir (filters, feature maps, occlusion, curves, ...)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        description="Draw figures of a trained network from its workdir (config.json, the newest checkpoint, "
        "metrics.jsonl and the dataset) as PNG files.",
    )
    p.add_argument("kind", metavar="KIND", choices=[*sorted(KINDS), "all"], help="; ".join([*sorted(KINDS), "all"]))
    p.add_argument(
        "--workdir",
        action="append",
        required=True,
        metavar="DIR",
        help="a training workdir (repeat for curves of several runs)",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="the image file, its format from its suffix (for all: the folder); "
        "default: DIR/viz/KIND.png (all: DIR/viz/)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out file (all: the files of the same names in an --out folder)",
    )
    p.add_argument("--image", type=int, default=0, metavar="INDEX", help="test-set image (default 0)")
    p.add_argument("--layer", metavar="NAME", help="a layer, as named by `cnnjax summary`")
    p.add_argument("--class", dest="class_name", metavar="NAME", help="class name (default: the true class)")
    p.add_argument("--patch-size", type=int, metavar="PIXELS", help="occlusion patch side (default: 1/4 of the image)")
    p.add_argument("--stride", type=int, metavar="PIXELS", help="occlusion step (default: 1/4 of the patch, >= 1)")
    p.add_argument(
        "--smoothgrad",
        type=int,
        default=0,
        metavar="N",
        help="saliency: also SmoothGrad over N noisy copies (default 0: off)",
    )
    p.add_argument(
        "--noise", type=float, help=f"SmoothGrad noise std, as a fraction of the input range (default {NOISE})"
    )
    p.add_argument("--seed", type=int, help="SmoothGrad's key: jax.random.key(SEED), SEED in [0, 2**31) (default 0)")
    p.add_argument("--count", type=int, default=24, help="errors: how many images (default 24)")
    p.add_argument("--max-maps", type=int, default=32, help="featuremaps: at most this many channels (default 32)")


def _title(run: Run, layer: str) -> str:
    return f"{run.model_name} · run {run.name} · layer {layer}"


def _layer(layer: analysis.Layer) -> str:
    return f"{layer.name} ({layer.type})"


def _output_layer(run: Run) -> str:
    return f"{run.layers[-1].name} (the model's output)"


def _stem(kind: str, layer: analysis.Layer) -> str:
    """A file stem: 'featuremaps-layer2_0_conv1' for layer 'layer2_0/conv1'."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', layer.name).strip('_')}"


def _chosen(run: Run, args: argparse.Namespace, need: str) -> list[analysis.Layer]:
    """The --layer (checked), or the first eligible layer (all: up to 8 of them)."""
    if args.layer is not None:
        return [analysis.find_layer(run.layers, args.layer, need=need)]
    layers = analysis.eligible(run.layers, need)
    if not layers:
        raise ValueError(f"layer: expected a model with a {analysis.NEEDS[need]}, {run.model_name} has none")
    return layers[:8] if args.kind == "all" else layers[:1]


def filters(run: Run, args: argparse.Namespace) -> Output:
    result = []
    for layer in _chosen(run, args, "filters"):
        kernel = analysis.layer_kernel(run.variables, layer)
        figure = figures.filters_figure(kernel, title=_title(run, _layer(layer)))
        result.append((_stem("filters", layer), figure, f"learned filters of {layer.name} {layer.kernel_shape}"))
    return result


def featuremaps(run: Run, args: argparse.Namespace) -> Output:
    x, label = run.test_example(args.image)
    result = []
    for layer in _chosen(run, args, "maps"):
        maps = analysis.feature_maps(run.model, run.variables, x, layer)
        title = f"{_title(run, _layer(layer))} · test image #{args.image} ({run.class_names[label]})"
        figure = figures.featuremaps_figure(run.display(x), maps, title=title, max_maps=args.max_maps)
        result.append((_stem("featuremaps", layer), figure, f"feature maps of {layer.name} {maps.shape}"))
    return result


def _class(run: Run, args: argparse.Namespace, label: int) -> int:
    return label if args.class_name is None else run.class_index(args.class_name)


def occlusion(run: Run, args: argparse.Namespace) -> Output:
    run.require_classifier("occlusion")
    x, label = run.test_example(args.image)
    side = min(x.shape[:2])
    if args.patch_size is not None and args.patch_size > side:
        raise ValueError(
            f"--patch-size: expected a patch side in [1, {side}] pixels (the model's input is "
            f"{x.shape[0]}x{x.shape[1]}), got {args.patch_size}"
        )
    size = max(1, side // 4) if args.patch_size is None else args.patch_size
    if args.stride is not None and args.stride > size:
        raise ValueError(
            f"--stride: expected at most the patch size {size} (a longer step leaves pixels that no "
            f"patch covers), got {args.stride}"
        )
    stride = max(1, size // 4) if args.stride is None else args.stride
    result = analysis.occlusion(run.logits_fn, x, size=size, stride=stride)
    title = f"{_title(run, _output_layer(run))} · test image #{args.image}"
    figure = figures.occlusion_figure(
        run.display(x),
        result,
        class_index=_class(run, args, label),
        true_class=label,
        class_names=run.class_names,
        title=title,
        patch_grey=float(np.mean(run.dataset.mean)),
    )
    return [("occlusion", figure, f"occlusion with a {size}x{size} grey patch, stride {stride}")]


def saliency(run: Run, args: argparse.Namespace) -> Output:
    run.require_classifier("saliency")
    x, label = run.test_example(args.image)
    index = _class(run, args, label)
    maps = {"gradient": analysis.saliency(run.logits_fn, x, index)}
    if args.smoothgrad:
        noise = NOISE if args.noise is None else args.noise
        seed = 0 if args.seed is None else args.seed
        maps[f"SmoothGrad (n={args.smoothgrad}, noise {noise:g}, seed {seed})"] = analysis.saliency(
            run.logits_fn, x, index, samples=args.smoothgrad, noise=noise, key=jax.random.key(seed)
        )
    title = f"{_title(run, _output_layer(run))} · test image #{args.image}"
    figure = figures.saliency_figure(run.display(x), maps, class_name=run.class_names[index], title=title)
    return [("saliency", figure, f"saliency of class {run.class_names[index]}")]


def kernels(run: Run, args: argparse.Namespace) -> Output:
    x, label = run.test_example(args.image)
    image = run.display(x)
    title = (
        f"{run.model_name} · run {run.name} · layer: none (fixed filters, not learned) · test image "
        f"#{args.image} ({run.class_names[label]})"
    )
    figure = figures.kernels_figure(image, analysis.fixed_filter_responses(image), title=title)
    return [("kernels", figure, "the fixed 3x3 filters applied to a test image")]


def confusion(run: Run, args: argparse.Namespace) -> Output:
    run.require_classifier("confusion")
    predicted = run.test_probabilities.argmax(axis=1)
    counts = analysis.confusion_matrix(run.test_set.labels, predicted, len(run.class_names))
    figure = figures.confusion_figure(counts, run.class_names, title=_title(run, _output_layer(run)))
    return [("confusion", figure, "test-set confusion matrix")]


def errors(run: Run, args: argparse.Namespace) -> Output:
    run.require_classifier("errors")
    probs, labels = run.test_probabilities, run.test_set.labels
    indices = analysis.most_confident_errors(probs, labels, args.count)
    images = run.display(run.inputs(run.test_set.images[indices]))
    figure = figures.errors_figure(
        images, labels[indices], probs[indices], run.class_names, indices=indices, title=_title(run, _output_layer(run))
    )
    return [("errors", figure, f"the {len(indices)} most confidently misclassified test images")]


def distinct_names(workdirs: Sequence[Path]) -> list[str]:
    """Each workdir's shortest trailing path (folder name, then parent/folder, ...) that no other workdir ends with:
    runs/alexnet/seed0 and runs/vgg/seed0 are 'alexnet/seed0' and 'vgg/seed0', not 'seed0' twice."""
    parts = [Path(w).resolve().parts for w in workdirs]

    def name(i: int) -> str:
        others = [q for j, q in enumerate(parts) if j != i]
        depth = next(
            (d for d in range(1, len(parts[i])) if all(q[-d:] != parts[i][-d:] for q in others)), len(parts[i])
        )
        return str(Path(*parts[i][-depth:]))

    return [name(i) for i in range(len(parts))]


def curves(runs: Sequence[Run]) -> Output:
    """One figure of every run's records; a run whose records stop before its planned end is named
    '<name> (unfinished)'."""
    for run in runs:
        run.require_records()
    models = sorted({run.model_name for run in runs})
    names = [
        name if run.finished else f"{name} (unfinished)"
        for name, run in zip(distinct_names([run.workdir for run in runs]), runs, strict=True)
    ]
    title = f"{', '.join(models)} · run{'s' * (len(runs) > 1)} {', '.join(names)} · layer: none"
    plotted = [(name, run.records, run.metric_keys) for name, run in zip(names, runs, strict=True)]
    figure = figures.curves_figure(plotted, title=title)
    return [("curves", figure, "training curves")]


NEED_CLASSES = ("occlusion", "saliency", "confusion", "errors")  # each calls run.require_classifier
KINDS: dict[str, Callable[[Run, argparse.Namespace], Output]] = {
    "filters": filters,
    "featuremaps": featuremaps,
    "occlusion": occlusion,
    "saliency": saliency,
    "kernels": kernels,
    "curves": lambda run, args: curves([run]),
    "confusion": confusion,
    "errors": errors,
}


def write_index(folder: Path, run: Run, entries: Sequence[tuple[str, str, str]]) -> Path:
    """folder/index.html showing each (kind, file name, caption)."""
    sections = "\n".join(
        f"<section><h2>{html.escape(kind)}</h2><p>{html.escape(caption)}</p>"
        f'<img src="{html.escape(name)}" alt="{html.escape(caption)}"></section>'
        for kind, name, caption in entries
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cnnjax viz: {html.escape(run.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} img{{max-width:100%;border:1px solid #ddd}}</style></head>
<body><h1>{html.escape(run.model_name)} · run {html.escape(run.name)}</h1>
<p>Written by <code>cnnjax viz all --workdir {html.escape(str(run.workdir))}</code>.</p>
{sections}
</body></html>
"""
    path = folder / "index.html"
    _write(path, lambda: path.write_text(page))
    return path


NOISE = 0.15  # SmoothGrad's default noise std, as a fraction of the input range

# The options each kind reads ('all' reads every one), with their defaults: an option given to a kind that ignores
# it is an error, not a silently unused flag.
OPTION_KINDS = {
    "image": (0, ("featuremaps", "occlusion", "saliency", "kernels")),
    "layer": (None, ("filters", "featuremaps")),
    "class_name": (None, ("occlusion", "saliency")),
    "patch_size": (None, ("occlusion",)),
    "stride": (None, ("occlusion",)),
    "smoothgrad": (0, ("saliency",)),
    "noise": (None, ("saliency",)),
    "seed": (None, ("saliency",)),
    "count": (24, ("errors",)),
    "max_maps": (32, ("featuremaps",)),
}
POSITIVE = {"patch_size": "pixels", "stride": "pixels", "count": "images", "max_maps": "channels"}  # 1 or more


def _flag(option: str) -> str:
    return "--class" if option == "class_name" else "--" + option.replace("_", "-")


def check_options(args: argparse.Namespace) -> None:
    """Raises ValueError naming an option that `args.kind` does not read, or that has no effect (--noise, --seed
    without --smoothgrad), or whose value is out of range."""
    for option, (default, kinds) in OPTION_KINDS.items():
        if args.kind != "all" and args.kind not in kinds and getattr(args, option) != default:
            raise ValueError(f"{_flag(option)}: expected only with {' / '.join(kinds)}, got it with {args.kind}")
    for option, unit in POSITIVE.items():
        value = getattr(args, option)
        if value is not None and value < 1:
            raise ValueError(f"{_flag(option)}: expected a positive number of {unit}, got {value}")
    if args.overwrite and args.out is None:
        raise ValueError(
            "--overwrite: expected only with --out (the default DIR/viz/ is always rewritten), got it without"
        )
    if args.smoothgrad < 0:
        raise ValueError(f"--smoothgrad: expected 0 (off) or a positive number of noisy copies, got {args.smoothgrad}")
    for option in ("noise", "seed"):
        if getattr(args, option) is not None and not args.smoothgrad:
            raise ValueError(
                f"{_flag(option)}: expected only with --smoothgrad N (it sets SmoothGrad's {option}), got it without"
            )
    if args.noise is not None and not (math.isfinite(args.noise) and args.noise > 0):
        raise ValueError(
            f"--noise: expected a finite std > 0, as a fraction of the input range (e.g. {NOISE}), got {args.noise}"
        )
    if args.seed is not None:
        check_seed(args.seed, "--seed")


def check_workdirs(args: argparse.Namespace) -> list[Path]:
    """The --workdir folders: one unless curves, each once."""
    workdirs = [Path(w) for w in args.workdir]
    if args.kind != "curves" and len(workdirs) > 1:
        raise ValueError(f"--workdir: {args.kind} reads one workdir (curves compares several), got {len(workdirs)}")
    seen: dict[Path, Path] = {}
    for workdir in workdirs:
        first = seen.setdefault(workdir.resolve(), workdir)
        if first is not workdir:
            raise ValueError(
                f"--workdir: expected each run once, got {str(workdir)!r} twice"
                + ("" if str(first) == str(workdir) else f" (also as {str(first)!r})")
            )
    return workdirs


def check_out(args: argparse.Namespace) -> None:
    """Raises ValueError, before any work, for an --out that cannot be written or would replace files without
    --overwrite: the file of one kind (its suffix must name a format, it must not be a folder) or the folder of
    all (not a file; holding files only with --overwrite)."""
    if args.out is None:  # DIR/viz/ belongs to the run: rewritten
        return
    out = Path(args.out)
    blocked = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise ValueError(f"--out: expected a path in a folder, got {str(out)!r}, but {str(blocked)!r} is a file")
    if args.kind == "all":
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out: all writes a folder, got {str(out)!r}, an existing file; name a folder")
        if not out.exists() and _names_an_image(out):
            raise ValueError(
                f"--out: all writes a folder (its figures and index.html), got {str(out)!r}, the name "
                f"of an image file; name a folder, e.g. {str(out.with_suffix(''))!r}"
            )
        held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        if held and not args.overwrite:
            raise ValueError(
                f"--out: {str(out)!r} already holds {len(held)} files ({', '.join(held[:3])}"
                f"{', ...' if len(held) > 3 else ''}); add --overwrite to replace those of the same names, or name "
                "a new folder"
            )
        return
    if out.is_dir():
        raise ValueError(
            f"--out: expected a file name, got {str(out)!r}, a folder; name a file in it, e.g. "
            f"{str(out / (args.kind + '.png'))!r}"
        )
    try:
        figures.file_format(out)
    except ValueError as e:
        raise ValueError(f"--out: {str(e).removeprefix('path: ')}") from None
    if out.exists() and not args.overwrite:
        raise ValueError(f"--out: {str(out)!r} exists; add --overwrite to replace it, or name another file")


def _names_an_image(path: Path) -> bool:
    """Whether `path`'s suffix names an image format (figure.png, not figures/ or figures.v2)."""
    try:
        figures.file_format(path)
    except ValueError:
        return False
    return True


def _write(path: Path, write: Callable[[], object]) -> None:
    """Runs `write` (which writes `path`); an OSError becomes one naming the path and the reason."""
    try:
        write()
    except OSError as e:
        raise OSError(
            f"cannot write {str(path)!r}: {e.strerror or e}; choose a path in a writable folder (--out)"
        ) from None


def _save(figure: Figure, path: Path) -> Path:
    _write(path, lambda: figures.save(figure, path))
    return path


def viz(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Runs `cnnjax viz`; returns the exit status (2 for a bad command line or run, 1 for missing data or a file
    that cannot be written)."""
    try:
        if extra:
            raise ValueError(f"unrecognized arguments: {' '.join(extra)}")
        check_options(args)
        workdirs = check_workdirs(args)
        check_out(args)
        runs = [load_run(workdir) for workdir in workdirs]
        run = runs[0]
        if args.kind == "all":
            folder = Path(args.out) if args.out else run.workdir / "viz"
            entries = []
            for kind, make in KINDS.items():
                if kind in NEED_CLASSES and not run.classifier:
                    continue
                for stem, figure, caption in make(run, args):
                    _save(figure, folder / f"{stem}.png")
                    entries.append((kind, f"{stem}.png", caption))
            print(write_index(folder, run, entries))
            return 0
        outputs = curves(runs) if args.kind == "curves" else KINDS[args.kind](run, args)
        ((_, figure, _),) = outputs
        print(_save(figure, Path(args.out) if args.out else run.workdir / "viz" / f"{args.kind}.png"))
    except (ValueError, TypeError) as e:
        print(f"cnnjax viz: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # FileNotFoundError of missing data, a file that cannot be written
        print(f"cnnjax viz: error: {e}", file=sys.stderr)
        return 1
    return 0

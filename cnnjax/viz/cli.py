"""`cnnjax viz KIND --workdir DIR ...`: the figures of a training workdir, as PNG files.

`add_viz_parser(subparsers)` declares the arguments, `viz(args, extra)` runs the command (cnnjax/cli.py registers
both). Each kind is a function `(run, args) -> [(file stem, Figure, caption)]`.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

from cnnjax.viz import analysis, figures
from cnnjax.viz.run import Run, load_run

Output = list[tuple[str, Figure, str]]

EPILOG = """\
kinds:
  filters      the learned kernels of a conv layer (--layer; default: the first)
  featuremaps  a layer's activation maps for test image --image (--layer; default: the first with maps)
  occlusion    P(class) and the most probable class as a grey patch slides over the image (--patch-size, --stride)
  saliency     gradient of the class logit with respect to the input (--smoothgrad N for SmoothGrad, --seed)
  kernels      the fixed 3x3 filters of cnnjax.functional applied to test image --image
  curves       train/test loss and the task's metric (accuracy, mse, ...), learning rate against epoch
               (several --workdir: one plot)
  confusion    the test-set confusion matrix, counts and row-normalised
  errors       the most confidently misclassified test images (--count)
  all          every kind (filters and feature maps of each layer, up to 8) into a folder with index.html

Layer names are the 'layer' column of `cnnjax summary MODEL` (Flax module paths, e.g. conv1, pool1,
layer2_0/conv1). occlusion, saliency, confusion and errors need a classifier; all skips them for other models.
--class (occlusion, saliency) defaults to the image's true class.

examples:
  cnnjax viz all --workdir runs/lenet5 --out docs/figures
  cnnjax viz featuremaps --workdir runs/lenet5 --layer conv2 --image 3
  cnnjax viz occlusion --workdir runs/lenet5 --image 3 --patch-size 8 --stride 2 --class Trouser
  cnnjax viz curves --workdir runs/a --workdir runs/b --out curves.png
"""


def add_viz_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "viz", help="figures of a training workdir (filters, feature maps, occlusion, curves, ...)", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
        description="Draw figures of a trained network from its workdir (config.json, the newest checkpoint, "
        "metrics.jsonl and the dataset) as PNG files.",
    )
    p.add_argument("kind", metavar="KIND", choices=sorted(KINDS) + ["all"], help="; ".join(sorted(KINDS) + ["all"]))
    p.add_argument("--workdir", action="append", required=True, metavar="DIR",
                   help="a training workdir (repeat for curves of several runs)")
    p.add_argument("--out", metavar="PATH", help="the PNG file (for all: the folder); default: DIR/viz/KIND.png "
                   "(all: DIR/viz/)")
    p.add_argument("--image", type=int, default=0, metavar="INDEX", help="test-set image (default 0)")
    p.add_argument("--layer", metavar="NAME", help="a layer, as named by `cnnjax summary`")
    p.add_argument("--class", dest="class_name", metavar="NAME", help="class name (default: the true class)")
    p.add_argument("--patch-size", type=int, metavar="PIXELS", help="occlusion patch side (default: 1/4 of the image)")
    p.add_argument("--stride", type=int, metavar="PIXELS", help="occlusion step (default: 1/4 of the patch, >= 1)")
    p.add_argument("--smoothgrad", type=int, default=0, metavar="N",
                   help="saliency: also SmoothGrad over N noisy copies (default 0: off)")
    p.add_argument("--noise", type=float, default=0.15, help="SmoothGrad noise std, as a fraction of the input "
                   "range (default 0.15)")
    p.add_argument("--seed", type=int, default=0, help="SmoothGrad's key: jax.random.key(SEED) (default 0)")
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
    size = args.patch_size or max(1, min(x.shape[:2]) // 4)
    stride = args.stride or max(1, size // 4)
    result = analysis.occlusion(run.logits_fn, x, size=size, stride=stride)
    title = f"{_title(run, _output_layer(run))} · test image #{args.image}"
    figure = figures.occlusion_figure(run.display(x), result, class_index=_class(run, args, label), true_class=label,
                                      class_names=run.class_names, title=title,
                                      patch_grey=float(np.mean(run.dataset.mean)))
    return [("occlusion", figure, f"occlusion with a {size}x{size} grey patch, stride {stride}")]


def saliency(run: Run, args: argparse.Namespace) -> Output:
    run.require_classifier("saliency")
    x, label = run.test_example(args.image)
    index = _class(run, args, label)
    maps = {"gradient": analysis.saliency(run.logits_fn, x, index)}
    if args.smoothgrad:
        maps[f"SmoothGrad (n={args.smoothgrad}, noise {args.noise:g}, seed {args.seed})"] = analysis.saliency(
            run.logits_fn, x, index, samples=args.smoothgrad, noise=args.noise, key=jax.random.key(args.seed)
        )
    title = f"{_title(run, _output_layer(run))} · test image #{args.image}"
    figure = figures.saliency_figure(run.display(x), maps, class_name=run.class_names[index], title=title)
    return [("saliency", figure, f"saliency of class {run.class_names[index]}")]


def kernels(run: Run, args: argparse.Namespace) -> Output:
    x, label = run.test_example(args.image)
    image = run.display(x)
    title = (f"{run.model_name} · run {run.name} · layer: none (fixed filters, not learned) · test image "
             f"#{args.image} ({run.class_names[label]})")
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
    if args.count < 1:
        raise ValueError(f"count: expected a positive number of images, got {args.count!r}")
    probs, labels = run.test_probabilities, run.test_set.labels
    indices = analysis.most_confident_errors(probs, labels, args.count)
    images = run.display(run.inputs(run.test_set.images[indices]))
    figure = figures.errors_figure(images, labels[indices], probs[indices], run.class_names, indices=indices,
                                   title=_title(run, _output_layer(run)))
    return [("errors", figure, f"the {len(indices)} most confidently misclassified test images")]


def distinct_names(workdirs: Sequence[Path]) -> list[str]:
    """Each workdir's shortest trailing path (folder name, then parent/folder, ...) that no other workdir ends with:
    runs/alexnet/seed0 and runs/vgg/seed0 are 'alexnet/seed0' and 'vgg/seed0', not 'seed0' twice."""
    parts = [Path(w).resolve().parts for w in workdirs]

    def name(i: int) -> str:
        others = [q for j, q in enumerate(parts) if j != i]
        depth = next((d for d in range(1, len(parts[i])) if all(q[-d:] != parts[i][-d:] for q in others)),
                     len(parts[i]))
        return str(Path(*parts[i][-depth:]))

    return [name(i) for i in range(len(parts))]


def curves(runs: Sequence[Run]) -> Output:
    models = sorted({run.model_name for run in runs})
    names = distinct_names([run.workdir for run in runs])
    title = f"{', '.join(models)} · run{'s' * (len(runs) > 1)} {', '.join(names)} · layer: none"
    figure = figures.curves_figure([(name, run.records, run.metric_keys) for name, run in zip(names, runs)],
                                   title=title)
    return [("curves", figure, "training curves")]


NEED_CLASSES = ("occlusion", "saliency", "confusion", "errors")  # each calls run.require_classifier
KINDS: dict[str, Callable[[Run, argparse.Namespace], Output]] = {
    "filters": filters, "featuremaps": featuremaps, "occlusion": occlusion, "saliency": saliency,
    "kernels": kernels, "curves": lambda run, args: curves([run]), "confusion": confusion, "errors": errors,
}


def write_index(folder: Path, run: Run, entries: Sequence[tuple[str, str, str]]) -> Path:
    """folder/index.html showing each (kind, file name, caption)."""
    sections = "\n".join(
        f'<section><h2>{html.escape(kind)}</h2><p>{html.escape(caption)}</p>'
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
    path.write_text(page)
    return path


# The options each kind reads ('all' reads every one), with their defaults: an option given to a kind that ignores
# it is an error, not a silently unused flag.
OPTION_KINDS = {
    "image": (0, ("featuremaps", "occlusion", "saliency", "kernels")),
    "layer": (None, ("filters", "featuremaps")),
    "class_name": (None, ("occlusion", "saliency")),
    "patch_size": (None, ("occlusion",)),
    "stride": (None, ("occlusion",)),
    "smoothgrad": (0, ("saliency",)),
    "noise": (0.15, ("saliency",)),
    "seed": (0, ("saliency",)),
    "count": (24, ("errors",)),
    "max_maps": (32, ("featuremaps",)),
}


def check_options(args: argparse.Namespace) -> None:
    """Raises ValueError naming an option that `args.kind` does not read."""
    for option, (default, kinds) in OPTION_KINDS.items():
        if args.kind != "all" and args.kind not in kinds and getattr(args, option) != default:
            flag = "--class" if option == "class_name" else "--" + option.replace("_", "-")
            raise ValueError(f"{flag}: expected only with {' / '.join(kinds)}, got it with {args.kind}")


def viz(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Runs `cnnjax viz`; returns the exit status (2 for a bad command line, 1 for missing data)."""
    try:
        if extra:
            raise ValueError(f"unrecognized arguments: {' '.join(extra)}")
        check_options(args)
        runs = [load_run(workdir) for workdir in args.workdir]
        if args.kind != "curves" and len(runs) > 1:
            raise ValueError(f"--workdir: {args.kind} reads one workdir (curves compares several), got {len(runs)}")
        run = runs[0]
        if args.kind == "all":
            folder = Path(args.out) if args.out else run.workdir / "viz"
            entries = []
            for kind, make in KINDS.items():
                if kind in NEED_CLASSES and not run.classifier:
                    continue
                for stem, figure, caption in make(run, args):
                    figures.save(figure, folder / f"{stem}.png")
                    entries.append((kind, f"{stem}.png", caption))
            print(write_index(folder, run, entries))
            return 0
        outputs = curves(runs) if args.kind == "curves" else KINDS[args.kind](run, args)
        (_, figure, _), = outputs
        print(figures.save(figure, args.out or run.workdir / "viz" / f"{args.kind}.png"))
    except (ValueError, TypeError) as e:
        print(f"cnnjax viz: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"cnnjax viz: error: {e}", file=sys.stderr)
        return 1
    return 0

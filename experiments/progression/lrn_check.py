"""Does LRN do anything in the progression's AlexNet and ZFNet rows as configured? Two measurements on the
validation split (the last 10,000 training images, the rows' `:validation` argument; the test set is not used):

1. what LRN divides by: in a trained run with LRN, each LRN layer's divisor (k + alpha * sum of x^2 over 5
   neighbouring channels)^beta at every position of every validation image, relative to its value at x = 0,
   k^beta = 2^0.75. A divisor that barely moves is a constant scale, which the next layer's weights absorb;
2. what it changes: the validation accuracy of the row trained with LRN and with `model_options.lrn=False`
   (same seed, same recipe otherwise).

    cnnjax train --config experiments/configs/alexnet_fashion_mnist.py:validation --workdir runs/lrn_check/alexnet_on
    cnnjax train --config experiments/configs/alexnet_fashion_mnist.py:validation \
        --config.model_options.lrn=False --workdir runs/lrn_check/alexnet_off
    (the same for zfnet), then
    python -m experiments.progression.lrn_check runs/lrn_check --json experiments/progression/lrn_check.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np

from cnnjax import nn as cnn
from cnnjax.train import build, load_dataset, restore_run, split_data

ROWS = ("alexnet", "zfnet")
QUANTILES = (0.01, 0.5, 0.99, 0.999)


def lrn_inputs(model: nn.Module, variables, x: jax.Array) -> dict[str, jax.Array]:
    """{LRN layer name: its input} for a forward pass in evaluation mode (flax's method interception)."""
    captured = {}

    def record(next_fun, args, kwargs, context):
        if isinstance(context.module, cnn.LocalResponseNorm) and context.method_name == "__call__":
            captured[context.module.name] = args[0]
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        model.apply(variables, x, train=False)
    return captured


def divisor_quantiles(workdir: Path, batch: int = 500) -> dict[str, dict[str, float]]:
    """{LRN layer: quantiles of divisor / k^beta over every position, channel and validation image}."""
    config, model, variables = restore_run(workdir)
    dataset = load_dataset(config)
    setup = build(config, dataset)
    _, held_out, split = split_data(config, dataset)
    assert split == "validation", f"{workdir}: expected a run on the validation split, got {split!r}"
    layers = {m.name: m for m in _lrn_modules(model, variables, setup, held_out)}
    forward = jax.jit(lambda x: lrn_inputs(model, variables, x))
    ratios: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for start in range(0, len(held_out), batch):
        images = np.stack([held_out[i]["image"] for i in range(start, min(start + batch, len(held_out)))])
        x = setup.preprocess.normalize(setup.preprocess.views(images)[0])
        for name, inputs in forward(x).items():
            lrn = layers[name]
            ratios[name].append(np.asarray(_divisor(inputs, lrn) / lrn.k**lrn.beta).ravel())
    return {
        name: {f"q{q:g}": float(np.quantile(np.concatenate(parts), q)) for q in QUANTILES}
        | {"fraction_above_1.01": float(np.mean(np.concatenate(parts) > 1.01))}
        for name, parts in ratios.items()
    }


def _lrn_modules(model, variables, setup, held_out) -> list[cnn.LocalResponseNorm]:
    modules = []

    def record(next_fun, args, kwargs, context):
        if isinstance(context.module, cnn.LocalResponseNorm) and context.method_name == "__call__":
            modules.append(context.module)
        return next_fun(*args, **kwargs)

    x = setup.preprocess.normalize(setup.preprocess.views(held_out[0]["image"][None])[0])
    with nn.intercept_methods(record):
        jax.eval_shape(lambda x: model.apply(variables, x, train=False), x)
    return modules


def _divisor(x: jax.Array, lrn: cnn.LocalResponseNorm) -> jax.Array:
    """(k + alpha * sum over the `size` channels around c of x^2)^beta: what `functional.local_response_norm`
    (average=False) divides x by."""
    half = lrn.size // 2
    squares = jax.numpy.pad(x * x, ((0, 0), (0, 0), (0, 0), (half, half)))
    window = sum(squares[..., i : i + x.shape[-1]] for i in range(lrn.size))
    return (lrn.k + lrn.alpha * window) ** lrn.beta


def final_metrics(workdir: Path) -> dict[str, float] | None:
    """The finished run's last evaluation (its manifest's final metrics), or None while it is still training."""
    final = json.loads((workdir / "manifest.json").read_text()).get("final_metrics")
    if final is None:
        return None
    return {key: final[key] for key in ("step", "validation_accuracy", "validation_loss", "train_loss")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="holds <row>_on and <row>_off workdirs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(
            f"folder: expected a folder holding alexnet_on, alexnet_off, zfnet_on, zfnet_off, got {args.folder}"
        )
    result = {}
    print("| row | LRN | validation accuracy | validation loss | divisor / 2^0.75: 1% / 50% / 99% / 99.9% quantiles |")
    print("|---|---|---|---|---|")
    for row in ROWS:
        for arm in ("on", "off"):
            workdir = args.folder / f"{row}_{arm}"
            entry = final_metrics(workdir) if (workdir / "manifest.json").is_file() else None
            if entry is None:
                print(f"| {row} | {arm} | not finished | | |")
                continue
            if arm == "on":
                entry["divisor_over_k_beta"] = divisor_quantiles(workdir)
            result[f"{row}_{arm}"] = entry
            quantiles = "; ".join(
                f"{name}: " + " / ".join(f"{v:.4f}" for k, v in q.items() if k.startswith("q"))
                for name, q in entry.get("divisor_over_k_beta", {}).items()
            )
            print(
                f"| {row} | {arm} | {entry['validation_accuracy']:.4f} | {entry['validation_loss']:.4f} | "
                f"{quantiles or '-'} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""The memory of each ImageNet recipe's evaluation step: XLA's estimate of its temporary buffers, compiled (not
run) at the recipe's evaluation batch, with its views in passes (config.eval_views_per_pass) and all at once.

    python -m experiments.imagenet.eval_memory                          # every recipe with evaluation views
    python -m experiments.imagenet.eval_memory --configs resnet:resnet152

The estimate is XLA:CPU's (`compiled.memory_analysis()`: temporaries, plus the arguments: the batch and the
variables); a GPU compilation differs in its details, not in the order of magnitude. Nothing is trained or read.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from cnnjax import backend
from cnnjax.train import build
from experiments.imagenet.throughput import random_imagenet, recipe_at_batch

DEFAULT_CONFIGS = ("alexnet", "zfnet", "vgg", "googlenet", "resnet", "resnet:resnet152", "resnet_torchvision")
GIB = 2**30


def eval_memory(spec: str, views_per_pass: int | None) -> tuple[int, int, float]:
    """(views, views per pass, GiB of temporaries + arguments) of a recipe's compiled evaluation step;
    `views_per_pass` None: the recipe's."""
    config = recipe_at_batch(spec)
    if views_per_pass is not None:
        config.eval_views_per_pass = views_per_pass
    size = config.image_size or 256
    setup = build(config, random_imagenet(config.batch_size, size))
    batch = config.eval_batch_size
    abstract_batch = {
        "image": jax.ShapeDtypeStruct((batch, size, size, 3), np.uint8),
        "label": jax.ShapeDtypeStruct((batch,), np.int32),
        "mask": jax.ShapeDtypeStruct((batch,), np.bool_),
    }
    views = jax.eval_shape(setup.preprocess.views, abstract_batch["image"]).shape[0]
    compiled = jax.jit(setup.eval_step).lower(jax.eval_shape(setup.init), abstract_batch).compile()
    memory = compiled.memory_analysis()
    total = (memory.temp_size_in_bytes + memory.argument_size_in_bytes) / GIB
    return views, config.eval_views_per_pass or views, total


def main(argv: list[str] | None = None) -> None:
    backend.configure()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), metavar="NAME[:ARG]")
    args = parser.parse_args(argv)
    print(f"Evaluation step memory (XLA:CPU estimate), jax {jax.__version__}\n")
    print("| config | views | GiB, all views at once | views per pass | GiB, in passes |")
    print("|---|---|---|---|---|")
    for spec in args.configs:
        views, _, at_once = eval_memory(spec, 0)
        _, per_pass, in_passes = eval_memory(spec, None)
        print(f"| {spec} | {views} | {at_once:.1f} | {per_pass} | {in_passes:.1f} |", flush=True)


if __name__ == "__main__":
    main()

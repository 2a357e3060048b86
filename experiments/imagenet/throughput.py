"""Training-step throughput of each ImageNet recipe's model on random data: a Markdown table of img/s.

    python -m experiments.imagenet.throughput                       # every recipe, batch 8, 10 timed steps
    python -m experiments.imagenet.throughput --configs alexnet resnet_torchvision:resnet18 --steps 2

Each row is the library's jitted training step of the recipe (its augmentation from 256 x 256 uint8 images to
its crop, its optimiser and regularisation, its model with 1000 classes) at batch --batch, timed by
`benchmarks/train_step.py`'s `images_per_sec` (median over --steps steps after one compiling step). Run it on an
otherwise idle machine: on a shared one the figures move by more than the differences that matter.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from benchmarks.train_step import images_per_sec
from cnnjax import backend, data
from cnnjax.train import build, load_config

DEFAULT_CONFIGS = ("alexnet", "zfnet", "vgg", "googlenet", "resnet", "resnet_torchvision")
FOLDER = "experiments/imagenet"


def random_imagenet(n: int, size: int = 256) -> data.Dataset:
    """n random size x size RGB images (imagenet2012 as read: 256, or a recipe's config.image_size) with labels in
    [0, 1000)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return data.from_arrays(
        images,
        (np.arange(n) % 1000).astype(np.int32),
        num_classes=1000,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        name="imagenet2012_random",
    )


def recipe_at_batch(spec: str, batch: int | None = None):
    """The config 'name[:arg]' of this folder at a global batch of `batch` (None: the recipe's), over exactly one
    batch of data: without its held-out split (a plateau on it then watches the training loss), which changes
    neither the step nor its memory."""
    name, _, arg = spec.partition(":")
    config = load_config(f"{FOLDER}/{name}.py" + (f":{arg}" if arg else ""))
    if batch is not None:
        config.batch_size = config.eval_batch_size = batch
    config.limit_train = config.limit_test = None
    config.validation_examples, config.test_at_end = 0, False
    if config.schedule.name == "plateau":
        config.schedule.plateau_metric = "train_loss"
    return config


def main(argv: list[str] | None = None) -> None:
    backend.configure()  # $CNNJAX_PROFILE, else "fast": before anything starts JAX
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=list(DEFAULT_CONFIGS),
        metavar="NAME[:ARG]",
        help="config files of experiments/imagenet (without .py), e.g. vgg:vgg19",
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="timed steps after the compiling one")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    print(
        f"Training step, random data, batch {args.batch}, median of {args.steps} steps; {jax.device_count()} x "
        f"{device.device_kind} ({device.platform}), jax {jax.__version__}\n"
    )
    print("| config | model | input | parameters | img/s | ms/step | build+compile s |")
    print("|---|---|---|---|---|---|---|")
    for spec in args.configs:
        config = recipe_at_batch(spec, args.batch)
        dataset = random_imagenet(args.batch, config.image_size or 256)
        setup = build(config, dataset)
        params = sum(x.size for x in jax.tree.leaves(jax.eval_shape(setup.init).params))
        began = time.perf_counter()
        rate = images_per_sec(config, dataset, args.steps)
        total = time.perf_counter() - began
        first = total - args.steps * args.batch / rate
        side = setup.preprocess.input_shape[0]
        print(
            f"| {spec} | {config.model} | {side}x{side} | {params:,} | {rate:.1f} | {1000 * args.batch / rate:.0f} "
            f"| {first:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

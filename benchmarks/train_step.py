"""Images per second of the jitted training step under variants of a config's recipe (augmentation, optimiser).

    .venv/bin/python benchmarks/train_step.py --config experiments/configs/resnet20_fashion_mnist.py

Random uint8 data of the config's dataset shape (28x28x1 unless --shape), the config's batch size, median of
--steps steps after one compiling step. Run it on an otherwise idle machine: timings on a shared VM vary by more
than the differences between variants.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import backend, data
from cnnjax.train import build, create_train_state, load_config, make_train_step, root_key, validate

VARIANTS = {  # name -> config overrides
    "recipe": {},
    "no augmentation": {"augment.crop_padding": 0, "augment.flip": False},
    "random crop only": {"augment.flip": False},
    "flip only": {"augment.crop_padding": 0},
    "no augmentation, adamw, no l2": {
        "augment.crop_padding": 0,
        "augment.flip": False,
        "optimizer.name": "adamw",
        "regularization.l2": 0.0,
    },
}


def images_per_sec(config, dataset, steps: int) -> float:
    config = validate(config, dataset_given=True)
    setup = build(config, dataset)
    step, tx = make_train_step(config, model=setup.model, task=setup.task, preprocess=setup.preprocess, plan=setup.plan)
    state = create_train_state(setup.model, tx, root_key(0), setup.preprocess.input_shape)
    step = jax.jit(step, donate_argnums=0)
    n = config.batch_size
    batch = {"image": jnp.asarray(dataset.train.images[:n]), "label": jnp.asarray(dataset.train.labels[:n])}
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    return n / float(np.median(times))


def main() -> None:
    backend.configure()  # $CNNJAX_PROFILE, else "fast", as `cnnjax train`: before JAX starts
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="experiments/configs/resnet20_fashion_mnist.py")
    parser.add_argument("--shape", type=int, nargs=3, default=(28, 28, 1), metavar=("H", "W", "C"))
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    base = load_config(args.config)
    n = 4 * base.batch_size
    rng = np.random.default_rng(0)
    dataset = data.from_arrays(
        rng.integers(0, 256, (n, *args.shape), dtype=np.uint8), (np.arange(n) % 10).astype(np.int32), num_classes=10
    )
    print(f"{base.model}, batch {base.batch_size}, input {tuple(args.shape)}, {jax.devices()[0].device_kind}")
    for name, overrides in VARIANTS.items():
        config = load_config(args.config)
        config.update_from_flattened_dict(overrides)
        print(f"  {name:34s} {images_per_sec(config, dataset, args.steps):7.0f} img/s", flush=True)


if __name__ == "__main__":
    main()

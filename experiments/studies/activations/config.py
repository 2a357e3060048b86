"""Activations and unstable gradients in a deeper plain CNN: the three arms.

    cnnjax repro experiments/studies/activations/config.py:relu --seeds 0-4 --out runs/studies/activations/relu
    python -m experiments.studies run activations

  sigmoid, tanh, relu   the activation of every layer

Four blocks conv 16@3x3 - activation - max pool 2 (28 -> 14 -> 7 -> 3 -> 1), then dense 64 - 64 - 64 - 10: eight
weight layers, no batch norm, no residual connections (17,178 parameters), LeCun-normal kernels. The packaged
classifier recipe (AdamW 3e-3, warm-up then cosine, label smoothing 0.1) for 5 epochs on the first 10,000 training
images; all 10,000 test images.
"""

from cnnjax.train.recipes import classifier

ARGS = ("sigmoid", "tanh", "relu")


def get_config(arg: str | None = None):
    if arg not in ARGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    config = classifier.get_config()
    config.model = "convnet"
    config.model_options.update({"channels": (16, 16, 16, 16), "hidden": (64, 64, 64), "activation": arg})
    config.num_epochs = 5
    config.limit_train = 10_000
    return config

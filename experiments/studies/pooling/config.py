"""Pooling and translation: the four arms.

    cnnjax repro experiments/studies/pooling/config.py:max --seeds 0-4 --out runs/studies/pooling/max
    python -m experiments.studies run pooling

  max     conv - ReLU - max pool 2, twice
  avg     the same with average pooling
  l2      the same with L2 pooling (the square root of the sum of squares in each window)
  stride  no pooling: each convolution strided by 2 (the same map sizes)

Conv 16@3x3 - pool - conv 32@3x3 - pool - dense 64 - 10 (105,866 parameters; the strided arm has the same), the
packaged classifier recipe (AdamW 3e-3, warm-up then cosine, label smoothing 0.1) for 5 epochs on the first 10,000
training images, without augmentation; all 10,000 test images.
"""

from cnnjax.train.recipes import classifier

ARGS = ("max", "avg", "l2", "stride")


def get_config(arg: str | None = None):
    if arg not in ARGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    config = classifier.get_config()
    config.model = "convnet"
    config.model_options.update({"channels": (16, 32), "hidden": (64,), "pool": arg, "pool_size": 2})
    config.num_epochs = 5
    config.limit_train = 10_000
    return config

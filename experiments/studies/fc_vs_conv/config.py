"""Fully connected against convolutional at equal parameter counts, on Fashion-MNIST: the three arms.

    cnnjax repro experiments/studies/fc_vs_conv/config.py:cnn --seeds 0-4 --out runs/studies/fc_vs_conv/cnn
    python -m experiments.studies run fc_vs_conv     # every arm, then the shifted test sets, figure and tables

  cnn        conv 3@3x3 (SAME) - ReLU - max pool 4 (28 -> 7) - dense 20 - 10: 3,200 parameters. The notes' 9x9
             example (3 filters of 3x3, pooled to 3x3x3 = 27 features, 20 hidden units, 10 outputs: 767 weights)
             scaled to 28x28 (7x7x3 = 147 features).
  mlp_equal  784 - 4 - 10: 3,190 parameters, the convolutional network's budget spent on a fully connected layer.
  mlp_notes  784 - 20 - 10: 15,910 parameters, the notes' fully connected network (20 hidden units) at 28x28.

Counts include biases (the notes leave them out). The packaged classifier recipe (AdamW 3e-3, warm-up then cosine,
label smoothing 0.1, batch 128) for 5 epochs on all 60,000 training images, without augmentation: a shifted test
image is one the networks never saw shifted.
"""

from cnnjax.train.recipes import classifier

ARGS = ("cnn", "mlp_equal", "mlp_notes")
MODELS = {
    "cnn": ("convnet", {"channels": (3,), "kernel_size": 3, "pool": "max", "pool_size": 4, "hidden": (20,)}),
    "mlp_equal": ("mlp", {"hidden": (4,)}),
    "mlp_notes": ("mlp", {"hidden": (20,)}),
}


def get_config(arg: str | None = None):
    if arg not in MODELS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    config = classifier.get_config()
    config.model, options = MODELS[arg]
    config.model_options.update(options)
    config.num_epochs = 5
    return config

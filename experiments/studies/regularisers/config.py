"""Regularisers on a small training set: the arms.

    cnnjax repro experiments/studies/regularisers/config.py:none --seeds 0-4 --out runs/studies/regularisers/none
    python -m experiments.studies run regularisers

  none           no regulariser (AdamW's decoupled weight decay off)
  l2_1e-4, l2_1e-3, l2_1e-2
                 lambda * 1/2 ||W||^2 added to the loss (kernels only)
  l2_1e-3_biases the same at 1e-3 on every parameter, biases included (LeNet-5 has no normalisation layer)
  l1_1e-4        lambda * ||W||_1 added to the loss
  elastic        L1 1e-4 + L2 1e-3
  max_norm_2, max_norm_1
                 each unit's incoming weight vector projected onto ||w|| <= 2 (or 1) after every update
  decay_1e-3     decoupled weight decay 1e-3 (AdamW: w -= lr * 1e-3 * w each step), no loss term: against
                 l2_1e-3, the same coefficient as a loss term, which Adam rescales per weight

LeNet-5, AdamW 3e-3 with a warm-up then cosine, batch 128, label smoothing 0, 40 epochs (600 steps of 128) on the first
2,000 training images: enough to overfit. All 10,000 test images, evaluated after every epoch.
"""

from cnnjax.train.recipes import classifier

ARGS = (
    "none",
    "l2_1e-4",
    "l2_1e-3",
    "l2_1e-2",
    "l2_1e-3_biases",
    "l1_1e-4",
    "elastic",
    "max_norm_2",
    "max_norm_1",
    "decay_1e-3",
)
SETTINGS = {  # arm -> (l2, l1, max_norm, weight_decay); l2_1e-3_biases: l2_1e-3 with regularization.biases
    "none": (0.0, 0.0, 0.0, 0.0),
    "l2_1e-4": (1e-4, 0.0, 0.0, 0.0),
    "l2_1e-3": (1e-3, 0.0, 0.0, 0.0),
    "l2_1e-2": (1e-2, 0.0, 0.0, 0.0),
    "l2_1e-3_biases": (1e-3, 0.0, 0.0, 0.0),
    "l1_1e-4": (0.0, 1e-4, 0.0, 0.0),
    "elastic": (1e-3, 1e-4, 0.0, 0.0),
    "max_norm_2": (0.0, 0.0, 2.0, 0.0),
    "max_norm_1": (0.0, 0.0, 1.0, 0.0),
    "decay_1e-3": (0.0, 0.0, 0.0, 1e-3),
}


def get_config(arg: str | None = None):
    if arg not in SETTINGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    config = classifier.get_config()
    config.model = "lenet5"
    r = config.regularization
    r.l2, r.l1, r.max_norm, config.optimizer.weight_decay = SETTINGS[arg]
    r.biases = arg.endswith("_biases")
    config.label_smoothing = 0.0
    config.num_epochs = 40
    config.limit_train = 2_000
    return config

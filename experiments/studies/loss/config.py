"""Softmax cross-entropy against the multiclass hinge (SVM) loss: the three arms.

    cnnjax repro experiments/studies/loss/config.py:cross_entropy --seeds 0-4 --out runs/studies/loss/cross_entropy
    python -m experiments.studies run loss     # every arm, then calibration, figure and tables

  cross_entropy           softmax cross-entropy, no label smoothing
  cross_entropy_smoothed  softmax cross-entropy with label smoothing 0.1 (the packaged recipe's)
  hinge                   the multiclass hinge loss (Weston-Watkins, margin 1) on the same logits

LeNet-5 with the packaged classifier recipe (AdamW 3e-3, warm-up then cosine, batch 128), 5 epochs on the first
10,000 training images; all 10,000 test images.
"""

from cnnjax.train.recipes import classifier

ARGS = ("cross_entropy", "cross_entropy_smoothed", "hinge")
LOSS = {
    "cross_entropy": ("softmax_cross_entropy", 0.0),
    "cross_entropy_smoothed": ("softmax_cross_entropy", 0.1),
    "hinge": ("multiclass_hinge", 0.0),
}


def get_config(arg: str | None = None):
    if arg not in LOSS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    config = classifier.get_config()
    config.model = "lenet5"
    config.loss, config.label_smoothing = LOSS[arg]
    config.num_epochs = 5
    config.limit_train = 10_000
    return config

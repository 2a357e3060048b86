"""Normalisation and where it goes: the arms, one per normalisation and learning rate.

    cnnjax repro experiments/studies/normalisation/config.py:bn_lr0.1 --seeds 0-4 \
        --out runs/studies/normalisation/bn_lr0.1
    python -m experiments.studies run normalisation

  none_lr<LR>      no normalisation
  lrn_lr<LR>       AlexNet's local response normalisation (size 5, alpha 1e-4, beta 0.75, k 2) after the ReLU,
                   where AlexNet puts it
  bn_lr<LR>        batch norm before the ReLU (the notes' and the BN paper's placement)
  bn_after_lr<LR>  batch norm after the ReLU
for LR in LRS: plain SGD with momentum 0.9 at a constant rate, no warm-up (the learning-rate tolerance is the
question, so nothing softens a large rate). A rate at which a run diverges is a result, not an error: non-finite
steps are skipped (`skip_nonfinite`) and counted.

conv 16@3x3 - norm/ReLU - max pool 2 - conv 32@3x3 - norm/ReLU - max pool 2 - dense 64 - 10, batch 128, 4 epochs
(156 steps) on the first 5,000 training images; all 10,000 test images.
"""

from cnnjax.train.config import default_config

NORMS = {  # arm prefix -> (model_options.norm, norm_after_activation)
    "none": ("none", False),
    "lrn": ("lrn", True),
    "bn": ("batch", False),
    "bn_after": ("batch", True),
}
LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
ARGS = tuple(f"{norm}_lr{lr:g}" for norm in NORMS for lr in LRS)


def get_config(arg: str | None = None):
    if arg not in ARGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    norm, lr = arg.rsplit("_lr", 1)
    config = default_config()
    config.model = "convnet"
    config.model_options.channels = (16, 32)
    config.model_options.hidden = (64,)
    config.model_options.norm, config.model_options.norm_after_activation = NORMS[norm]
    config.optimizer.name = "momentum"
    config.optimizer.lr = float(lr)
    config.skip_nonfinite = True
    config.num_epochs = 4
    config.limit_train = 5_000
    return config

"""Fixed against learned first-layer filters: the arms.

    cnnjax repro experiments/studies/filters/config.py:fixed_500 --seeds 0-4 --out runs/studies/filters/fixed_500
    python -m experiments.studies run filters

  learned_<N>  conv 11@3x3 learned, as every other layer
  fixed_<N>    the first layer frozen to the notes' 11 fixed 3x3 filters (Sobel x/y, box and Gaussian blurs,
               sharpen, outline, line and corner detectors; `cnnjax.functional.filter_bank`: each scaled to unit
               norm), only its biases learned
for N in (500, 5000) training images.

conv 11@3x3 - ReLU - max pool 2 - conv 32@3x3 - ReLU - max pool 2 - dense 64 - 10 (learned: 104,376 parameters;
fixed: 99 fewer), the packaged classifier recipe (AdamW 3e-3, weight decay 5e-4, warm-up then cosine, label
smoothing 0.1), 400 steps of batch 128 on the first N training images; all 10,000 test images at the end.
"""

from cnnjax.train.recipes import classifier

TRAIN_SIZES = (500, 5_000)
ARGS = tuple(f"{kind}_{n}" for kind in ("learned", "fixed") for n in TRAIN_SIZES)


def get_config(arg: str | None = None):
    if arg not in ARGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    kind, n = arg.split("_")
    config = classifier.get_config()
    config.model = "convnet"
    config.model_options.channels = (11, 32)
    config.model_options.hidden = (64,)
    config.model_options.fixed_first_layer = kind == "fixed"
    config.num_epochs = 0
    config.num_steps = 400
    config.eval_every_epochs = 0
    config.limit_train = int(n)
    return config

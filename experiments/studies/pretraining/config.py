"""Layer-wise pretraining against random initialisation, with few labels: the arms.

    python -m experiments.studies run pretraining        # pretrains (pretrain.py), then trains the arms
    cnnjax repro experiments/studies/pretraining/config.py:random_500 --seeds 0-4 \
        --out runs/studies/pretraining/random_500

  random_<N>      the network from random initialisation
  pretrained_<N>  its two convolutions initialised by greedy layer-wise autoencoder pretraining on all 60,000
                  training images without their labels (pretrain.py writes ENCODERS with {seed} filled in; the
                  dense layers start random), then every layer fine-tuned
for N in LABELS: the first N training images with their labels.

conv 16@3x3 - ReLU - max pool 2 - conv 32@3x3 - ReLU - max pool 2 - dense 64 - 10 (105,866 parameters), the
packaged classifier recipe (AdamW 3e-3, weight decay 5e-4, warm-up then cosine, label smoothing 0.1), 400 steps of
batch 128; all 10,000 test images at the end.
"""

from cnnjax.train.recipes import classifier

LABELS = (500, 2_000, 10_000)
ARGS = tuple(f"{kind}_{n}" for kind in ("random", "pretrained") for n in LABELS)
ENCODERS = "runs/studies/pretraining/encoders/seed_{seed}.npz"  # relative to the repository root
CHANNELS = (16, 32)


def get_config(arg: str | None = None):
    if arg not in ARGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    kind, n = arg.split("_")
    config = classifier.get_config()
    config.model = "convnet"
    config.model_options.channels = CHANNELS
    config.model_options.hidden = (64,)
    config.init_from = ENCODERS if kind == "pretrained" else ""
    config.num_epochs = 0
    config.num_steps = 400
    config.eval_every_epochs = 0
    config.limit_train = int(n)
    return config

"""Where dropout goes (AlexNet: "dropout here, but not there"): the four arms.

    cnnjax repro experiments/studies/dropout/config.py:none --seeds 0-4 --out runs/studies/dropout/none
    python -m experiments.studies run dropout

  none  no dropout
  fc    dropout 0.5 after the hidden dense layer (AlexNet's and the notes' placement)
  conv  dropout 0.2 after each convolution block (after the pooling)
  both  both of the above

A convolutional network with a wide dense layer that overfits a small training set: conv 32@3x3 - ReLU - max
pool 2 - conv 64@3x3 - ReLU - max pool 2 - dense 256 - 10 (824,458 parameters), the packaged classifier recipe
(AdamW 3e-3, weight decay 5e-4, warm-up then cosine, label smoothing 0.1) for 15 epochs on the first 3,000
training images; all 10,000 test images.
"""

from cnnjax.train.recipes import classifier

ARGS = ("none", "fc", "conv", "both")
DROPOUT = {"none": (0.0, 0.0), "fc": (0.5, 0.0), "conv": (0.0, 0.2), "both": (0.5, 0.2)}


def get_config(arg: str | None = None):
    if arg not in DROPOUT:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    config = classifier.get_config()
    config.model = "convnet"
    config.model_options.channels = (32, 64)
    config.model_options.hidden = (256,)
    config.model_options.dropout, config.model_options.conv_dropout = DROPOUT[arg]
    config.num_epochs = 15
    config.limit_train = 3_000
    return config

"""A run of a few seconds on the default recipe's model and data: 8 batches, 1 epoch, evaluation on 2,000 images.

    cnnjax train --config experiments/configs/runlocal.py --workdir /tmp/cnnjax_runlocal

Every config file here also takes ':runlocal' (e.g. --config experiments/configs/resnet20_cifar10.py:runlocal).
"""

from cnnjax.train.recipes import classifier

ARGS = ("runlocal",)


def get_config(arg: str | None = None):
    del arg  # tiny already
    return classifier.get_config("runlocal")

"""The default recipe: LeNet-5 (modern) on Fashion-MNIST, 10 epochs; what `cnnjax train` runs without --config.

    cnnjax train --config experiments/configs/default.py --workdir runs/default

Same as `cnnjax train --model lenet5 --dataset fashion_mnist --epochs 10` and as lenet5_fashion_mnist.py (the
packaged recipe cnnjax/train/recipes/classifier.py).
Tiny run: --config experiments/configs/default.py:runlocal
"""

from cnnjax.train.recipes import classifier

ARGS = classifier.ARGS
get_config = classifier.get_config

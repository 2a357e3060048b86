"""LeNet-5 (modern: conv 6@5x5 pad 2, max-pool, conv 16@5x5, max-pool, 120, 84, 10, ReLU) on Fashion-MNIST.

    cnnjax train --config experiments/configs/lenet5_fashion_mnist.py --workdir runs/lenet5_fashion_mnist

The packaged classifier recipe (cnnjax/train/recipes/classifier.py), what `cnnjax train --model lenet5 --dataset
fashion_mnist` runs: AdamW, warm-up over the first tenth of the run then cosine decay, label smoothing 0.1, no
augmentation. 0.905-0.911 test accuracy after 10 epochs with seed 0, by numerics profile and CPU (docs/results.md).
Tiny run (seconds): --config experiments/configs/lenet5_fashion_mnist.py:runlocal
"""

from cnnjax.train.recipes import classifier

ARGS = classifier.ARGS
get_config = classifier.get_config

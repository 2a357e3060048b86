"""AlexNet (two towers, LRN, overlapping pooling, dropout 0.5) on ImageNet 2012, the paper's recipe
(Krizhevsky, Sutskever, Hinton 2012). Published (the paper, Table 2 and section 3): 1 CNN 40.7 / 18.2 top-1 /
top-5 validation error, 5 CNNs 38.1 / 16.4 (test top-5 16.4); LRN is worth 1.4 / 1.2, overlapping pooling 0.4 / 0.3.

    cnnjax train --config experiments/imagenet/alexnet.py --data-dir DIR --workdir runs/alexnet_imagenet
    # one 8-GPU host: the same line (batch 128 sharded over the GPUs, 16 each)
    # TPU pod slice, on every host (gcloud compute tpus tpu-vm ssh TPU --worker=all --command "..."):
    cnnjax train --config experiments/imagenet/alexnet.py --data-dir DIR --workdir SHARED/alexnet_imagenet \
        --coordinator-address auto
    cnnjax train --config experiments/imagenet/alexnet.py:runlocal --data-dir DIR   # 8 steps, a smoke test

DIR: imagenet2012 prepared by tfds (imagenet_common.py says how). Recipe (section 5): SGD, momentum 0.9, batch
128, weight decay 5e-4 (an L2 penalty on the kernels), init N(0, 0.01) with bias 1 in conv2/4/5 and the fc layers
(the model's weight_init='paper'), lr 0.01 divided by 10 when learning plateaus, three times before the end, ~90
epochs. The paper watched the validation error; here the top-1 error on 25,000 training images held out
(`imagenet_common.plateau_on_validation_error`: patience 2 epochs, at most the paper's three reductions), and the
50,000 ILSVRC validation images are evaluated once, at the end. Input (section 2): raw pixels minus the mean
(config.input_scaling='raw_mean', per channel; the paper subtracted the mean image), the scale the N(0, 0.01)
initialisation and the LRN constants (k = 2) assume: with standardised inputs the logits' spread across images is
about 45x smaller at initialisation and LRN acts almost as a constant.
Augmentation (section 4.1): random 227 x 227 crops of the 256 x 256 images (the paper says 224; 227 is what its
layer arithmetic needs) with horizontal flips, PCA colour noise (std 0.1). Evaluation (section 4.1): the softmax
averaged over ten crops (four corners, centre, and their reflections): config.eval_crops='ten'.
"""

from imagenet_common import args, base, finish, parse, plateau_on_validation_error

ARGS = args()


def get_config(arg: str | None = None):
    _, local = parse(arg, "alexnet")
    config = base("alexnet")
    config.num_epochs = 90
    config.batch_size = 128
    config.optimizer.lr = 0.01
    config.regularization.l2 = 5e-4
    plateau_on_validation_error(config, patience=2, reductions=3)
    config.input_scaling = "raw_mean"
    config.augment.crop_size = 227
    config.augment.pca_jitter = 0.1
    config.eval_crops = "ten"
    return finish(config, local)

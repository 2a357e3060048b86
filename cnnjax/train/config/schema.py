"""The config schema: `default_config()`, every key the trainer reads, at values that change nothing.

A config is an `ml_collections.ConfigDict`. The schema holds plain SGD at a constant rate, no weight decay, no label
smoothing, no warm-up, no augmentation, and no run length. Recipes are config files that start from it and state
only what they change: the packaged ones (`cnnjax.train.recipes`, what `cnnjax train --model NAME` uses) and the
experiments' (`experiments/configs/*.py`, big_vision style).

Durations: each is given in one unit, the other left at 0: num_epochs | num_steps, schedule.warmup_fraction
(of the run) | warmup_epochs | warmup_steps, schedule.decay_epochs | decay_steps; `plan.resolve` turns them into
steps. Sequences are tuples (a command line sets them as `--config.schedule.decay_epochs=30,60` or `'(30, 60)'`).
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

FREE_FORM_KEYS = frozenset({"model_options"})  # sub-dicts whose keys are free (keyword options of the model)
PARALLEL = ("jit",)
PRECISIONS = ("float32", "bfloat16", "float16")
INPUT_SCALINGS = ("standardize", "raw_mean")
MATMUL_PRECISIONS = ("", "default", "high", "highest")


def default_config() -> ml_collections.ConfigDict:
    """The schema: every key the trainer reads, at neutral values (see the module docstring). Locked: assigning
    an unknown key fails; values are type-checked by ConfigDict."""
    c = ml_collections.ConfigDict()
    c.model = "lenet5"
    c.model_options = ml_collections.ConfigDict()  # keyword options of cnnjax.models.create
    c.loss = ""  # a loss of cnnjax.train.tasks.LOSSES that fits the model's task; '' = the task's default
    c.dataset = "fashion_mnist"
    c.data_dir = ""  # '' = the data library's default
    # > 0: read imagenet2012 / imagenette at this size (shorter side resized to it, centre square kept; 0: 256),
    # e.g. the largest scale of a scale augmentation; a Dataset passed to train_and_evaluate is used as it is
    c.image_size = 0
    # grain worker processes decoding a tfds source (ImageNet); 0: 8 threads in the training process. Arrays in
    # memory (MNIST, Fashion-MNIST) need none. The batches are the same either way.
    c.data_workers = 0
    c.idx_dir = ""  # a folder of IDX files (MNIST format) to read instead of tfds
    c.limit_train = config_dict.placeholder(int)  # use only the first N training examples (None = all)
    c.limit_test = config_dict.placeholder(int)  # use only the first N evaluation examples (None = all)
    # > 0: hold out the LAST N training examples, train on the others (then limit_train) and evaluate on the held-out
    # ones instead of the test split, reporting validation_* metrics; for choosing settings without the test set.
    c.validation_examples = 0
    c.test_at_end = False  # with validation_examples: also evaluate the test split once, after the last step (test_*)

    c.seed = 0
    # a .npz of parameters named by their '/'-joined paths ('conv1/kernel', as `cnnjax.train.save_params` writes)
    # that replace the initial parameters of the same name (fine-tuning, pretraining); '{seed}' becomes config.seed
    c.init_from = ""
    c.num_epochs = 0  # the run's length: num_epochs or num_steps (one of them > 0)
    c.num_steps = 0
    c.batch_size = 128  # global batch, over all devices and processes
    # > 1: each step runs the batch as this many micro-batches in sequence and updates once with their mean
    # gradient (the memory of batch_size / accumulate_steps; batch norm normalises per micro-batch)
    c.accumulate_steps = 1
    c.eval_batch_size = 1000

    c.pad_to = 0  # > 0: zero-pad images (centred) to pad_to x pad_to, before augmentation and in evaluation
    # the model's input: 'standardize' = (x / 255 - mean) / std per channel; 'raw_mean' = x - 255 * mean, pixels in
    # [0, 255] minus the per-channel mean (AlexNet's, ZFNet's and VGG's, whose fixed initialisations assume it)
    c.input_scaling = "standardize"
    c.augment = ml_collections.ConfigDict()
    c.augment.crop_padding = 0  # random_crop with this zero padding (0 = off)
    c.augment.flip = False  # random horizontal flips
    c.augment.crop_size = 0  # > 0: alexnet_crop of this size in training, center_crop in evaluation
    c.augment.inception_crop = False  # inception-style random-size crops to crop_size in training
    c.augment.pca_jitter = 0.0  # std of AlexNet's PCA colour noise (0 = off)
    c.augment.scale_min = 0  # > 0: scale augmentation (VGG, ResNet): shorter side to S ~ U[scale_min, scale_max],
    c.augment.scale_max = 0  # then a random crop_size crop (the stored images stand for shorter side min(H, W))
    c.augment.color_jitter = 0.0  # photometric distortions (GoogLeNet): brightness/contrast/saturation x U[1 +- s]
    c.eval_crops = "center"  # evaluation views per scale: center | center_flip | ten (softmax averaged)
    c.eval_scales = ()  # shorter sides Q to evaluate at (VGG: [256, 384, 512]); [] = the stored images' scale
    # > 0: the evaluation views go through the model this many at a time (memory: eval batch x this many images,
    # not x all the views); 0 = all at once
    c.eval_views_per_pass = 0

    c.optimizer = _optimizer_schema()
    c.schedule = _schedule_schema()

    c.regularization = ml_collections.ConfigDict()
    c.regularization.l2 = 0.0  # l2 * 1/2 ||W||^2 in the loss (the papers' "weight decay" with SGD)
    c.regularization.l1 = 0.0  # l1 * ||W||_1 in the loss
    c.regularization.biases = False  # True: l2 and l1 also on biases and normalisation scales/offsets
    c.regularization.max_norm = 0.0  # > 0: project each unit's incoming weights onto ||w|| <= max_norm
    c.regularization.filter_rms = 0.0  # > 0: rescale each conv filter whose RMS exceeds it (ZFNet: 0.1)
    c.grad_clip_norm = 0.0  # > 0: clip the global gradient norm
    # > 0: keep an exponential moving average of the weights (decay per step, e.g. 0.999), which evaluation,
    # checkpoints' restore_run and `cnnjax viz` use; batch norm's statistics are the trained ones
    c.ema_decay = 0.0
    c.label_smoothing = 0.0  # for the cross-entropy losses

    # The compute dtype of the model (its inputs; every layer follows them). Parameters, optimiser state, the loss
    # and batch norm's statistics stay float32; float16 adds dynamic loss scaling (`optim.dynamic_loss_scale`).
    c.precision = "float32"
    # jax.default_matmul_precision of the steps: '' = JAX's default, under which float32 matmuls and convolutions
    # run as TF32 on recent NVIDIA GPUs and as bfloat16 passes on TPUs; 'highest' = full float32
    c.matmul_precision = ""

    c.log_every_steps = 100
    c.eval_every_epochs = 1  # 0: evaluate only at the end
    c.checkpoint_every_steps = 0  # 0: at the end of every epoch; always at the end of training
    c.checkpoint_keep = 3
    c.skip_nonfinite = False  # True: skip (and count) steps whose loss or gradients are not finite
    c.parallel = "jit"  # jit: a Mesh over all devices, the batch sharded on 'data' (cnnjax.parallel)
    c.tensorboard = False  # also write TensorBoard events (needs the 'tensorboard' extra: tensorboardX)
    c.stop_after_step = 0  # > 0: save a checkpoint and return after this step (a deterministic preemption)
    c.steps_per_call = 0  # training steps unrolled into one compiled call; 0: auto (plan.auto_steps_per_call)
    # the numerics profile, a row of cnnjax.backend.PROFILES ('' = the process's); the trainer records the profile
    # the process runs, which must be the one named here (`cnnjax train --numerics` chooses it before JAX starts)
    c.numerics = ""

    c.distributed = ml_collections.ConfigDict()
    c.distributed.coordinator_address = ""  # 'host:port' of process 0: run jax.distributed.initialize
    c.distributed.num_processes = 1
    c.distributed.process_id = 0
    c.lock()
    for key in FREE_FORM_KEYS:
        c[key].unlock()
    return c


def _optimizer_schema() -> ml_collections.ConfigDict:
    o = ml_collections.ConfigDict()
    o.name = "sgd"  # sgd | momentum | nesterov | adam | adamw | rmsprop
    o.lr = 0.01  # peak learning rate
    o.momentum = 0.9  # momentum, nesterov, rmsprop
    o.b1 = 0.9  # adam, adamw
    o.b2 = 0.999  # adam, adamw
    o.eps = 1e-8  # adam, adamw, rmsprop
    o.decay = 0.9  # rmsprop's squared-gradient average
    o.weight_decay = 0.0  # adamw's decoupled weight decay (kernels only)
    return o


def _schedule_schema() -> ml_collections.ConfigDict:
    s = ml_collections.ConfigDict()
    s.name = "constant"  # constant | step | cosine | polynomial | plateau
    s.warmup_fraction = 0.0  # linear warm-up from 0 over this fraction of the run ...
    s.warmup_epochs = 0.0  # ... or epochs ...
    s.warmup_steps = 0  # ... or steps; composable with every schedule
    s.decay_epochs = ()  # step: multiply the lr by decay_factor at these epochs ...
    s.decay_steps = ()  # ... or at these steps
    s.decay_factor = 0.1
    s.final_lr_fraction = 0.0  # cosine, polynomial: lr at the end / peak lr
    s.power = 1.0  # polynomial: lr falls as (1 - t / T) ** power (Caffe's "poly" policy; 1 = linear)
    s.plateau_metric = "train_loss"  # plateau: what it watches: train_loss (each epoch's mean, in the training
    # step) | validation_error | validation_loss (after each evaluation of config.validation_examples held out)
    s.plateau_patience = 5  # plateau: epochs (train_loss) or evaluations (validation_*) without improvement
    s.plateau_rtol = 1e-4
    s.plateau_cooldown = 0
    s.plateau_max_reductions = 0  # plateau: > 0 caps the number of reductions (the papers reduced three times)
    return s


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks a config to a run of a few seconds (the 'runlocal' argument of the config files)."""
    config.num_epochs = 1
    config.num_steps = 0
    config.limit_train = 8 * config.batch_size
    config.limit_test = 2 * config.eval_batch_size
    config.log_every_steps = 2
    config.schedule.warmup_epochs = min(config.schedule.warmup_epochs, 0.5)
    config.schedule.warmup_steps = min(config.schedule.warmup_steps, 4)
    config.schedule.decay_epochs = ()
    config.schedule.decay_steps = ()
    return config

"""Pure functions: arrays in, arrays out. NHWC activations, HWIO kernels, explicit state and keys; no Flax."""

from cnnjax.functional import init
from cnnjax.functional.activations import get_activation, relu, scaled_tanh, sigmoid, softmax, step, tanh
from cnnjax.functional.conv import conv, conv_matrix, conv_output_size, conv_transpose, linear, locally_connected
from cnnjax.functional.dropout import dropout
from cnnjax.functional.filters import FIXED_FILTERS, as_kernel, filter_bank, fixed_filter
from cnnjax.functional.losses import l2_loss, multiclass_hinge, pixel_softmax_cross_entropy, softmax_cross_entropy
from cnnjax.functional.norm import batch_norm, local_response_norm
from cnnjax.functional.pool import adaptive_avg_pool, avg_pool, channel_max_pool, global_avg_pool, lp_pool, max_pool
from cnnjax.functional.regularizers import (
    elastic_net_penalty,
    filter_rms_project,
    l1_penalty,
    l2_penalty,
    max_norm_project,
    weight_mask,
)

__all__ = [
    "FIXED_FILTERS",
    "adaptive_avg_pool",
    "as_kernel",
    "avg_pool",
    "batch_norm",
    "channel_max_pool",
    "conv",
    "conv_matrix",
    "conv_output_size",
    "conv_transpose",
    "dropout",
    "elastic_net_penalty",
    "filter_bank",
    "filter_rms_project",
    "fixed_filter",
    "get_activation",
    "global_avg_pool",
    "init",
    "l1_penalty",
    "l2_loss",
    "l2_penalty",
    "linear",
    "local_response_norm",
    "locally_connected",
    "lp_pool",
    "max_norm_project",
    "max_pool",
    "multiclass_hinge",
    "pixel_softmax_cross_entropy",
    "relu",
    "scaled_tanh",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "step",
    "tanh",
    "weight_mask",
]

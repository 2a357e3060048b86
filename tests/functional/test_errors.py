"""Bad input raises ValueError/TypeError naming the argument, what was expected and what was received; for array
ops the same error is raised under jax.jit (the checks run in Python on static shapes, before any XLA code)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F

x4 = jnp.ones((1, 5, 5, 3))  # NHWC
w4 = jnp.ones((3, 3, 3, 2))  # HWIO
logits, labels = jnp.zeros((4, 3)), jnp.zeros((4,), jnp.int32)
state3 = {"mean": jnp.zeros(3), "var": jnp.ones(3)}

# (id, function of the arrays, arrays, exception, message pattern, also under jit)
CASES = [
    # conv
    (
        "conv-rank",
        lambda x: F.conv(x, w4),
        (x4[0],),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 5, 3\)",
        True,
    ),
    (
        "conv-kernel-rank",
        lambda x: F.conv(x, jnp.ones((3, 3))),
        (x4,),
        ValueError,
        r"w: expected a kernel of rank 3, 4 or 5 .* got rank 2",
        True,
    ),
    (
        "conv-channels",
        lambda x: F.conv(x, jnp.ones((3, 3, 4, 2))),
        (x4,),
        ValueError,
        r"w: expected 3 input channels \(x has 3 channels, groups=1\), got kernel shape \(3, 3, 4, 2\) \(HWIO\)",
        True,
    ),
    (
        "conv-kernel-too-large",
        lambda x: F.conv(x, jnp.ones((7, 7, 3, 2)), padding="VALID"),
        (x4,),
        ValueError,
        r"w: expected a window no larger than the padded input, got window \(7, 7\) for spatial size \(5, 5\)",
        True,
    ),
    (
        "conv-dilated-kernel-too-large",
        lambda x: F.conv(x, w4, padding=0, dilation=3),
        (x4,),
        ValueError,
        r"w: expected a window no larger than the padded input, got window \(7, 7\)",
        True,
    ),
    (
        "conv-stride-zero",
        lambda x: F.conv(x, w4, stride=0),
        (x4,),
        ValueError,
        r"stride: expected values >= 1, got 0",
        True,
    ),
    (
        "conv-stride-negative",
        lambda x: F.conv(x, w4, stride=(1, -2)),
        (x4,),
        ValueError,
        r"stride: expected values >= 1, got \(1, -2\)",
        True,
    ),
    (
        "conv-stride-length",
        lambda x: F.conv(x, w4, stride=(1, 2, 1)),
        (x4,),
        ValueError,
        r"stride: expected 2 values \(one per spatial dimension\), got 3",
        True,
    ),
    (
        "conv-stride-bool",
        lambda x: F.conv(x, w4, stride=True),
        (x4,),
        TypeError,
        r"stride: expected an int or a sequence of 2 ints, got True",
        True,
    ),
    (
        "conv-dilation-zero",
        lambda x: F.conv(x, w4, dilation=0),
        (x4,),
        ValueError,
        r"dilation: expected values >= 1, got 0",
        True,
    ),
    (
        "conv-padding-string",
        lambda x: F.conv(x, w4, padding="FULL"),
        (x4,),
        ValueError,
        r"padding: expected 'SAME', 'VALID', an int or \(low, high\) pairs, got 'FULL'",
        True,
    ),
    (
        "conv-padding-negative",
        lambda x: F.conv(x, w4, padding=-1),
        (x4,),
        ValueError,
        r"padding: expected non-negative padding, got -1",
        True,
    ),
    (
        "conv-padding-length",
        lambda x: F.conv(x, w4, padding=[1, 1, 1]),
        (x4,),
        ValueError,
        r"padding: expected 2 entries \(one per spatial dimension\), got \[1, 1, 1\]",
        True,
    ),
    (
        "conv-groups-input",
        lambda x: F.conv(jnp.ones((1, 5, 5, 6)), jnp.ones((3, 3, 1, 4)), groups=4),
        (x4,),
        ValueError,
        r"groups: expected a divisor of the 6 input channels of x, got 4",
        True,
    ),
    (
        "conv-groups-output",
        lambda x: F.conv(jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 2, 5)), groups=2),
        (x4,),
        ValueError,
        r"groups: expected a divisor of the 5 output channels, got 2",
        True,
    ),
    (
        "conv-groups-zero",
        lambda x: F.conv(x, w4, groups=0),
        (x4,),
        ValueError,
        r"groups: expected an int >= 1, got 0",
        True,
    ),
    # conv_transpose, locally_connected, linear
    (
        "conv_transpose-channels",
        lambda x: F.conv_transpose(x, jnp.ones((3, 3, 2, 4))),
        (x4,),
        ValueError,
        r"w: expected 3 input channels to match x, got kernel shape \(3, 3, 2, 4\)",
        True,
    ),
    (
        "conv_transpose-padding",
        lambda x: F.conv_transpose(x, w4, padding="CAUSAL"),
        (x4,),
        ValueError,
        r"padding: expected 'SAME', 'VALID', an int or \(low, high\) pairs, got 'CAUSAL'",
        True,
    ),
    (
        "conv_transpose-rank",
        lambda x: F.conv_transpose(x[0], w4),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 5, 3\)",
        True,
    ),
    (
        "conv_transpose-stride",
        lambda x: F.conv_transpose(x, w4, stride=0),
        (x4,),
        ValueError,
        r"stride: expected values >= 1, got 0",
        True,
    ),
    (
        "locally_connected-shape",
        lambda x: F.locally_connected(x, jnp.ones((3, 3, 9, 2)), kernel_size=3),
        (x4,),
        ValueError,
        r"w: expected shape \(3, 3, 27, 'C_out'\), got \(3, 3, 9, 2\)",
        True,
    ),
    (
        "locally_connected-too-large",
        lambda x: F.locally_connected(x, jnp.ones((1, 1, 108, 2)), kernel_size=6),
        (x4,),
        ValueError,
        r"kernel_size: expected a window no larger than the padded input, got window \(6, 6\)",
        True,
    ),
    (
        "linear-features",
        lambda x: F.linear(x, jnp.ones((4, 2))),
        (logits,),
        ValueError,
        r"w: expected 3 input features to match x \(4, 3\), got \(4, 2\)",
        True,
    ),
    # pooling
    (
        "max_pool-too-large",
        lambda x: F.max_pool(x, 6),
        (x4,),
        ValueError,
        r"window: expected a window no larger than the padded input, got window \(6, 6\) for spatial size \(5, 5\)",
        True,
    ),
    (
        "max_pool-rank",
        lambda x: F.max_pool(x[0, 0], 2),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 3\)",
        True,
    ),
    # an unbatched image (H, W, C) is not taken for a batch of 1-D signals: 1-D pooling takes a one-entry window
    (
        "max_pool-unbatched-image",
        lambda x: F.max_pool(x[0], 2),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 5, 3\); if it is one example, add a batch axis: "
        r"x\[None\]; "
        r"for 1-D signals \(N, W, C\) pass a one-entry window, e.g. window=\(2,\)",
        True,
    ),
    (
        "avg_pool-unbatched-image",
        lambda x: F.avg_pool(x[0], 2, 1),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 5, 3\); if it is one example, add a batch axis",
        True,
    ),
    (
        "lp_pool-unbatched-image",
        lambda x: F.lp_pool(x[0], (2, 2)),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC: one spatial axis per entry of window \(2, 2\)\), got shape \(5, 5, 3\); "
        r"if it is one example, add a batch axis: x\[None\]",
        True,
    ),
    (
        "max_pool-1d-window-on-images",
        lambda x: F.max_pool(x, (2,)),
        (x4,),
        ValueError,
        r"x: expected a rank-3 array \(NWC: one spatial axis per entry of window \(2,\)\), got shape \(1, 5, 5, 3\)",
        True,
    ),
    ("max_pool-stride", lambda x: F.max_pool(x, 2, 0), (x4,), ValueError, r"stride: expected values >= 1, got 0", True),
    (
        "avg_pool-padding",
        lambda x: F.avg_pool(x, 2, padding="REFLECT"),
        (x4,),
        ValueError,
        r"padding: expected 'SAME', 'VALID', an int or \(low, high\) pairs, got 'REFLECT'",
        True,
    ),
    (
        "avg_pool-window-length",
        lambda x: F.avg_pool(x, (2, 2, 2)),
        (x4,),
        ValueError,
        r"x: expected a rank-5 array \(NDHWC: one spatial axis per entry of window \(2, 2, 2\)\), got shape "
        r"\(1, 5, 5, 3\)",
        True,
    ),
    (
        "avg_pool-stride-length",
        lambda x: F.avg_pool(x, 2, (1, 1, 1)),
        (x4,),
        ValueError,
        r"stride: expected 2 values \(one per spatial dimension\), got 3",
        True,
    ),
    (
        "lp_pool-p",
        lambda x: F.lp_pool(x, 2, p=0.0),
        (x4,),
        ValueError,
        r"p: expected a positive exponent, got 0.0",
        True,
    ),
    (
        "global_avg_pool-rank",
        lambda x: F.global_avg_pool(x[0, 0]),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 3\)",
        True,
    ),
    (
        "global_avg_pool-unbatched-image",
        lambda x: F.global_avg_pool(x[0]),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 5, 3\); if it is one example, add a batch axis: "
        r"x\[None\]; for 1-D signals \(N, W, C\) average over their axis 1: x.mean\(axis=1\)",
        True,
    ),
    (
        "adaptive_avg_pool-size",
        lambda x: F.adaptive_avg_pool(x, (2, 2, 2)),
        (x4,),
        ValueError,
        r"x: expected a rank-5 array \(NDHWC: one spatial axis per entry of output_size \(2, 2, 2\)\)",
        True,
    ),
    (
        "adaptive_avg_pool-rank",
        lambda x: F.adaptive_avg_pool(x[0, 0], 2),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 3\)",
        True,
    ),
    (
        "adaptive_avg_pool-unbatched-image",
        lambda x: F.adaptive_avg_pool(x[0], 2),
        (x4,),
        ValueError,
        r"x: expected a rank-4 array \(NHWC\), got shape \(5, 5, 3\); .* pass a one-entry output_size",
        True,
    ),
    (
        "channel_max_pool-divisor",
        lambda x: F.channel_max_pool(x, 2),
        (x4,),
        ValueError,
        r"pool_size: expected a divisor of the 3 channels, got 2",
        True,
    ),
    # normalisation and dropout
    (
        "batch_norm-momentum",
        lambda x: F.batch_norm(x, {}, state3, train=True, momentum=1.5),
        (x4,),
        ValueError,
        r"momentum: expected a value in \[0, 1\], got 1.5",
        True,
    ),
    (
        "batch_norm-state",
        lambda x: F.batch_norm(x, {}, {"mean": jnp.zeros(4), "var": jnp.ones(4)}, train=True),
        (x4,),
        ValueError,
        r"state: expected running statistics of shape \(3,\), got \(4,\)",
        True,
    ),
    (
        "local_response_norm-size",
        lambda x: F.local_response_norm(x, size=0),
        (x4,),
        ValueError,
        r"size: expected an int >= 1, got 0",
        True,
    ),
    (
        "dropout-rate-one",
        lambda x: F.dropout(jax.random.key(0), x, 1.0, train=True),
        (x4,),
        ValueError,
        r"rate: expected a drop probability in \[0, 1\), got 1.0",
        True,
    ),
    (
        "dropout-rate-negative",
        lambda x: F.dropout(jax.random.key(0), x, -0.1, train=False),
        (x4,),
        ValueError,
        r"rate: expected a drop probability in \[0, 1\), got -0.1",
        True,
    ),
    (
        "dropout-key",
        lambda x: F.dropout(None, x, 0.5, train=True),
        (x4,),
        ValueError,
        r"key: expected a PRNG key for dropout in training, got None",
        True,
    ),
    (
        "dropout-rate-jax-scalar-out-of-range",
        lambda x: F.dropout(None, x, jnp.float32(1.5), train=False),
        (x4,),
        ValueError,
        r"rate: expected a drop probability in \[0, 1\), got 1.5",
        False,
    ),
    (
        "dropout-rate-str",
        lambda x: F.dropout(None, x, "0.5", train=False),
        (x4,),
        TypeError,
        r"rate: expected a drop probability in \[0, 1\), got str '0.5'",
        True,
    ),
    (
        "dropout-rate-vector",
        lambda x: F.dropout(None, x, np.array([0.5]), train=False),
        (x4,),
        TypeError,
        r"rate: expected a drop probability in \[0, 1\), got ndarray array\(\[0.5\]\)",
        True,
    ),
    (
        "batch_norm-negative-var",
        lambda x: F.batch_norm(x, {}, {"mean": jnp.zeros(3), "var": jnp.array([1.0, -1.0, 1.0])}, train=False),
        (x4,),
        ValueError,
        r"state: expected a non-negative running variance 'var', got -1.0 for channel 1",
        False,
    ),
    (
        "batch_norm-nan-var",
        lambda x: F.batch_norm(x, {}, {"mean": jnp.zeros(3), "var": jnp.array([1.0, 1.0, np.nan])}, train=True),
        (x4,),
        ValueError,
        r"state: expected a non-negative running variance 'var', got nan for channel 2",
        False,
    ),
    (
        "batch_norm-momentum-str",
        lambda x: F.batch_norm(x, {}, state3, train=True, momentum="0.9"),
        (x4,),
        TypeError,
        r"momentum: expected a value in \[0, 1\], got str '0.9'",
        True,
    ),
    # flags: a truthy stand-in would mean True
    (
        "batch_norm-train-str",
        lambda x: F.batch_norm(x, {}, state3, train="no"),
        (x4,),
        TypeError,
        r"train: expected a bool \(True or False\), got str 'no'",
        True,
    ),
    (
        "dropout-train-str",
        lambda x: F.dropout(jax.random.key(0), x, 0.5, train="no"),
        (x4,),
        TypeError,
        r"train: expected a bool \(True or False\), got str 'no'",
        True,
    ),
    (
        "dropout-train-int",
        lambda x: F.dropout(None, x, 0.5, train=0),
        (x4,),
        TypeError,
        r"train: expected a bool \(True or False\), got int 0",
        True,
    ),
    # losses
    (
        "cross_entropy-labels",
        lambda z: F.softmax_cross_entropy(z, jnp.zeros((4, 3), jnp.int32)),
        (logits,),
        ValueError,
        r"labels: expected integer class ids of shape \(4,\) .* got labels \(4, 3\)",
        True,
    ),
    (
        "cross_entropy-smoothing",
        lambda z: F.softmax_cross_entropy(z, labels, label_smoothing=1.0),
        (logits,),
        ValueError,
        r"label_smoothing: expected a value in \[0, 1\), got 1.0",
        True,
    ),
    # class ids outside [0, classes): refused while the labels are concrete (traced ones cannot be inspected)
    (
        "cross_entropy-label-too-large",
        lambda z: F.softmax_cross_entropy(z, jnp.array([0, 1, 2, 3])),
        (logits,),
        ValueError,
        r"labels: expected class ids in \[0, 3\) \(logits \(N, classes\) with 3 classes\), got 3 at index 3 "
        r"\(1 outside the range\)",
        False,
    ),
    (
        "cross_entropy-label-negative",
        lambda z: F.softmax_cross_entropy(z, np.array([0, -1, 2, -1])),
        (logits,),
        ValueError,
        r"labels: expected class ids in \[0, 3\) .* got -1 at index 1 \(2 outside the range\)",
        False,
    ),
    (
        "cross_entropy-smoothed-label-too-large",
        lambda z: F.softmax_cross_entropy(z, jnp.array([0, 99, 2, 1]), label_smoothing=0.1),
        (logits,),
        ValueError,
        r"labels: expected class ids in \[0, 3\) .* got 99 at index 1",
        False,
    ),
    (
        "hinge-label-too-large",
        lambda z: F.multiclass_hinge(z, jnp.array([0, 1, 5, 2])),
        (logits,),
        ValueError,
        r"labels: expected class ids in \[0, 3\) .* got 5 at index 2",
        False,
    ),
    (
        "hinge-label-negative",
        lambda z: F.multiclass_hinge(z, jnp.array([-1, 1, 0, 2])),
        (logits,),
        ValueError,
        r"labels: expected class ids in \[0, 3\) .* got -1 at index 0",
        False,
    ),
    (
        "pixel_cross_entropy-label-too-large",
        lambda z: F.pixel_softmax_cross_entropy(z, jnp.zeros((1, 5, 5), jnp.int32).at[0, 2, 4].set(3)),
        (x4,),
        ValueError,
        r"labels: expected class ids in \[0, 3\) \(logits \(N, H, W, classes\) with 3 classes\), got 3 at "
        r"index \(0, 2, 4\)",
        False,
    ),
    (
        "pixel_cross_entropy-float-labels",
        lambda z: F.pixel_softmax_cross_entropy(z, jnp.zeros((1, 5, 5))),
        (x4,),
        TypeError,
        r"labels: expected integer class ids, got dtype float32",
        True,
    ),
    (
        "cross_entropy-smoothing-str",
        lambda z: F.softmax_cross_entropy(z, labels, label_smoothing="0.1"),
        (logits,),
        TypeError,
        r"label_smoothing: expected a value in \[0, 1\), got str '0.1'",
        True,
    ),
    (
        "hinge-margin-str",
        lambda z: F.multiclass_hinge(z, labels, margin="1"),
        (logits,),
        TypeError,
        r"margin: expected a margin >= 0, got str '1'",
        True,
    ),
    (
        "hinge-margin-negative",
        lambda z: F.multiclass_hinge(z, labels, margin=-1.0),
        (logits,),
        ValueError,
        r"margin: expected a margin >= 0 .*, got -1.0",
        True,
    ),
    (
        "hinge-logits-rank",
        lambda z: F.multiclass_hinge(z[None], labels),
        (logits,),
        ValueError,
        r"labels: expected integer class ids of shape \(1,\) for logits \(N, classes\), got labels \(4,\) and logits "
        r"\(1, 4, 3\)",
        True,
    ),
    (
        "l2_loss-shape",
        lambda z: F.l2_loss(z, jnp.zeros((4, 2))),
        (logits,),
        ValueError,
        r"targets: expected shape \(4, 3\) to match predictions, got \(4, 2\)",
        True,
    ),
    # dtypes: integer sums of products overflow, mixed dtypes are refused by cnnjax, not lax
    (
        "conv-int8",
        lambda x: F.conv(x.astype(jnp.int8), w4.astype(jnp.int8)),
        (x4,),
        TypeError,
        r"x: expected a floating-point array .* got dtype int8",
        True,
    ),
    (
        "conv-f32-f16",
        lambda x: F.conv(x, w4.astype(jnp.float16)),
        (x4,),
        TypeError,
        r"x: expected x, w of one dtype, got x float32, w float16",
        True,
    ),
    (
        "conv-uint8-image",
        lambda x: F.conv(x.astype(jnp.uint8), w4),
        (x4,),
        TypeError,
        r"x: expected a floating-point array .* got dtype uint8",
        True,
    ),
    (
        "conv-bias-dtype",
        lambda x: F.conv(x, w4, jnp.zeros(2, jnp.float16)),
        (x4,),
        TypeError,
        r"x: expected x, w, b of one dtype, got x float32, w float32, b float16",
        True,
    ),
    (
        "linear-f32-f16",
        lambda z: F.linear(z, jnp.ones((3, 2), jnp.float16)),
        (logits,),
        TypeError,
        r"x: expected x, w of one dtype, got x float32, w float16",
        True,
    ),
    (
        "conv_transpose-int",
        lambda x: F.conv_transpose(x.astype(jnp.int32), w4.astype(jnp.int32)),
        (x4,),
        TypeError,
        r"x: expected a floating-point array .* got dtype int32",
        True,
    ),
    # shapes and kinds that used to fail deep inside lax/XLA
    (
        "conv-bias-shape",
        lambda x: F.conv(x, w4, jnp.zeros(3)),
        (x4,),
        ValueError,
        r"b: expected shape \(2,\) \(C_out\), got \(3,\)",
        True,
    ),
    (
        "linear-bias-shape",
        lambda z: F.linear(z, jnp.ones((3, 2)), jnp.zeros((1, 2))),
        (logits,),
        ValueError,
        r"b: expected shape \(2,\) \(D_out\), got \(1, 2\)",
        True,
    ),
    (
        "conv-padding-float",
        lambda x: F.conv(x, w4, padding=1.5),
        (x4,),
        TypeError,
        r"padding: expected 'SAME', 'VALID', an int or \(low, high\) pairs, got 1.5",
        True,
    ),
    (
        "conv-padding-float-pair",
        lambda x: F.conv(x, w4, padding=((1, 1.5), (1, 1))),
        (x4,),
        TypeError,
        r"padding: expected 'SAME', 'VALID', an int or \(low, high\) pairs, got \(\(1, 1.5\), \(1, 1\)\)",
        True,
    ),
    (
        "conv-stride-float",
        lambda x: F.conv(x, w4, stride=(1.5, 1)),
        (x4,),
        TypeError,
        r"stride: expected an int or a sequence of 2 ints, got \(1.5, 1\)",
        True,
    ),
    (
        "max_pool-padding-over-half",
        lambda x: F.max_pool(x, 2, padding=2),
        (x4,),
        ValueError,
        r"padding: expected at most half the window on each side \(\[1, 1\] for window \(2, 2\)\), got 2",
        True,
    ),
    (
        "avg_pool-padding-over-half",
        lambda x: F.avg_pool(x, 3, 1, padding=((0, 2), (0, 0))),
        (x4,),
        ValueError,
        r"padding: expected at most half the window on each side .* got \(\(0, 2\), \(0, 0\)\)",
        True,
    ),
    (
        "conv_transpose-empty",
        lambda x: F.conv_transpose(x[:, :1, :1], jnp.ones((5, 5, 3, 2)), padding=0),
        (x4,),
        ValueError,
        r"padding: expected padding that leaves a non-empty output, got 0: .* give output \(-3, -3\)",
        True,
    ),
    (
        "batch_norm-empty-batch",
        lambda x: F.batch_norm(x[:0], {}, state3, train=True),
        (x4,),
        ValueError,
        r"x: expected a non-empty batch in training \(its statistics\), got shape \(0, 5, 5, 3\)",
        True,
    ),
    (
        "batch_norm-rank-1",
        lambda x: F.batch_norm(x[0, 0, 0], {}, state3, train=True),
        (x4,),
        ValueError,
        r"x: expected a rank >= 2 array \(N, ..., C\), got shape \(3,\)",
        True,
    ),
    (
        "batch_norm-eps-zero",
        lambda x: F.batch_norm(x, {}, state3, train=False, eps=0.0),
        (x4,),
        ValueError,
        r"eps: expected a positive float .* got 0.0",
        True,
    ),
    (
        "batch_norm-no-var",
        lambda x: F.batch_norm(x, {}, {"mean": jnp.zeros(3)}, train=False),
        (x4,),
        ValueError,
        r"state: expected a dict with running statistics 'mean' and 'var', got \['mean'\]",
        True,
    ),
    (
        "batch_norm-scale-shape",
        lambda x: F.batch_norm(x, {"scale": jnp.ones(4)}, state3, train=False),
        (x4,),
        ValueError,
        r"params: expected scale and bias of shape \(3,\), got \(4,\) for 'scale'",
        True,
    ),
    (
        "batch_norm-int",
        lambda x: F.batch_norm(x.astype(jnp.int32), {}, state3, train=True),
        (x4,),
        TypeError,
        r"x: expected a floating-point array, got dtype int32",
        True,
    ),
    (
        "dropout-key-int",
        lambda x: F.dropout(0, x, 0.5, train=True),
        (x4,),
        TypeError,
        r"key: expected one PRNG key from jax.random.key\(seed\) .* got int 0",
        True,
    ),
    (
        "dropout-key-raw-array",
        lambda x: F.dropout(jnp.zeros(4, jnp.uint32), x, 0.5, train=True),
        (x4,),
        TypeError,
        r"key: expected one PRNG key .* got an array of dtype uint32 and shape \(4,\)",
        True,
    ),
    (
        "dropout-key-float",
        lambda x: F.dropout(jnp.zeros(2), x, 0.5, train=True),
        (x4,),
        TypeError,
        r"key: expected one PRNG key .* got an array of dtype float32 and shape \(2,\)",
        True,
    ),
    (
        "dropout-keys-batch",
        lambda x: F.dropout(jax.random.split(jax.random.key(0)), x, 0.5, train=True),
        (x4,),
        ValueError,
        r"key: expected one PRNG key .* got an array of keys of shape \(2,\)",
        True,
    ),
    (
        "local_response_norm-size-float",
        lambda x: F.local_response_norm(x, size=2.5),
        (x4,),
        TypeError,
        r"size: expected an int >= 1 \(a number of channels\), got float 2.5",
        True,
    ),
    (
        "local_response_norm-size-str",
        lambda x: F.local_response_norm(x, size="5"),
        (x4,),
        TypeError,
        r"size: expected an int >= 1 \(a number of channels\), got str '5'",
        True,
    ),
    (
        "cross_entropy-float-labels",
        lambda z: F.softmax_cross_entropy(z, jnp.zeros(4)),
        (logits,),
        TypeError,
        r"labels: expected integer class ids, got dtype float32",
        True,
    ),
    (
        "channel_max_pool-float",
        lambda x: F.channel_max_pool(x, 1.5),
        (x4,),
        TypeError,
        r"pool_size: expected a divisor of the 3 channels, got float 1.5",
        True,
    ),
    (
        "lp_pool-p-str",
        lambda x: F.lp_pool(x, 2, p="2"),
        (x4,),
        TypeError,
        r"p: expected a positive exponent, got str '2'",
        True,
    ),
    # what is not an array is refused by cnnjax, before JAX sees it, in every op that takes arrays
    (
        "relu-str",
        lambda: F.relu("a"),
        (),
        TypeError,
        r"x: expected an array \(jax.Array or numpy.ndarray\) or a number, got str 'a'",
        True,
    ),
    (
        "softmax-numpy-strings",
        lambda: F.softmax(np.array(["a", "b"])),
        (),
        TypeError,
        r"x: expected a numeric array, got a NumPy array of dtype <U1",
        True,
    ),
    (
        "conv-list",
        lambda: F.conv([[[[1.0, 2.0, 3.0]]]], w4),
        (),
        TypeError,
        r"x: expected an array \(jax.Array or numpy.ndarray\) or a number, got list \[\[\[\[1.0, 2.0, 3.0\]\]\]\]; "
        r"convert it first: jnp.asarray\(x\)",
        True,
    ),
    (
        "conv-kernel-list",
        lambda x: F.conv(x, [[1.0]]),
        (x4,),
        TypeError,
        r"w: expected an array .* got list \[\[1.0\]\]; convert it first: jnp.asarray\(w\)",
        True,
    ),
    (
        "conv_transpose-bias-tuple",
        lambda x: F.conv_transpose(x, w4, (0.0, 0.0)),
        (x4,),
        TypeError,
        r"b: expected an array .* got tuple \(0.0, 0.0\)",
        True,
    ),
    (
        "linear-none",
        lambda z: F.linear(z, None),
        (logits,),
        TypeError,
        r"w: expected an array .* got NoneType None",
        True,
    ),
    ("max_pool-list", lambda: F.max_pool([[[[1.0]]]], 1), (), TypeError, r"x: expected an array .* got list", True),
    (
        "batch_norm-list",
        lambda: F.batch_norm([[1.0]], {}, state3, train=True),
        (),
        TypeError,
        r"x: expected an array .* got list",
        True,
    ),
    (
        "dropout-str",
        lambda: F.dropout(None, "x", 0.5, train=False),
        (),
        TypeError,
        r"x: expected an array .* got str 'x'",
        True,
    ),
    (
        "cross_entropy-list-labels",
        lambda z: F.softmax_cross_entropy(z, [0, 1, 2, 0]),
        (logits,),
        TypeError,
        r"labels: expected an array .* got list \[0, 1, 2, 0\]; convert it first",
        True,
    ),
    ("l2_loss-str", lambda z: F.l2_loss(z, "0"), (logits,), TypeError, r"targets: expected an array .* got str", True),
    # plain-Python helpers (no arrays to trace)
    (
        "conv_output_size-strict",
        lambda: F.conv_output_size(7, 3, 3, strict=True),
        (),
        ValueError,
        r"stride: a 3-wide window with stride 3 does not fit an input of 7 padded by 0",
        False,
    ),
    (
        "conv_output_size-kernel",
        lambda: F.conv_output_size(4, 7),
        (),
        ValueError,
        r"kernel: expected a window no larger than the padded input 4, got 7",
        False,
    ),
    (
        "conv_output_size-stride",
        lambda: F.conv_output_size(7, 3, 0),
        (),
        ValueError,
        r"stride: expected an int >= 1, got 0",
        False,
    ),
    (
        "conv_output_size-padding",
        lambda: F.conv_output_size(7, 3, padding=-1),
        (),
        ValueError,
        r"padding: expected an int >= 0, got -1",
        False,
    ),
    (
        "conv_matrix-channels",
        lambda: F.conv_matrix(np.ones((3, 3, 2, 1)), (5, 5, 3)),
        (),
        ValueError,
        r"input_shape: expected 2 channels to match w, got \(5, 5, 3\)",
        False,
    ),
    (
        "conv_matrix-rank",
        lambda: F.conv_matrix(np.ones((3, 2, 1)), (5, 2)),
        (),
        ValueError,
        r"w: expected a 2-D kernel \(kh, kw, C_in, C_out\), got shape \(3, 2, 1\)",
        False,
    ),
    (
        "max_norm",
        lambda: F.max_norm_project({"w": np.ones((2, 2))}, 0.0),
        (),
        ValueError,
        r"max_norm: expected a positive bound, got 0.0",
        False,
    ),
    (
        "activation",
        lambda: F.get_activation("gelu"),
        (),
        ValueError,
        r"activation: expected one of \['relu', .*\], got 'gelu'",
        False,
    ),
    (
        "fixed_filter",
        lambda: F.fixed_filter("laplace"),
        (),
        ValueError,
        r"name: expected one of \[.*'sobel_x'.*\], got 'laplace'",
        False,
    ),
    (
        "as_kernel-3d",
        lambda: F.as_kernel(np.ones((3, 3, 3))),
        (),
        ValueError,
        r"filt: expected a 2-D filter \(kh, kw\), got shape \(3, 3, 3\)",
        False,
    ),
    (
        "as_kernel-channels",
        lambda: F.as_kernel(np.ones((3, 3)), channels=0),
        (),
        ValueError,
        r"channels: expected an int >= 1, got 0",
        False,
    ),
    (
        "max_norm-str",
        lambda: F.max_norm_project({"w": np.ones((2, 2))}, "1"),
        (),
        TypeError,
        r"max_norm: expected a positive bound, got str '1'",
        False,
    ),
]


@pytest.mark.parametrize("fn, args, error, pattern", [c[1:5] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(fn, args, error, pattern):
    with pytest.raises(error, match=pattern):
        fn(*args)


JIT_CASES = [c for c in CASES if c[5]]


@pytest.mark.parametrize("fn, args, error, pattern", [c[1:5] for c in JIT_CASES], ids=[c[0] for c in JIT_CASES])
def test_same_error_under_jit(fn, args, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        jax.jit(fn)(*args)
    # not an XLA or tracer error that happens to subclass it (cnnjax's own subclasses, e.g. WindowTooLarge, are fine)
    assert type(info.value) is error or type(info.value).__module__.startswith("cnnjax."), type(info.value)


def test_messages_name_expected_and_received():
    """Every message starts with the argument's name and says both what was expected and what was received."""
    for name, fn, args, error, _, _ in CASES:
        with pytest.raises(error) as info:
            fn(*args)
        message = str(info.value)
        assert re.match(r"^[a-z_]+: ", message), (name, message)
        assert "expected" in message or "does not fit" in message, (name, message)
        assert "got" in message or "is not an integer" in message, (name, message)


def test_integer_inputs_give_exact_results():
    """uint8 averages are computed in float32 (no wrap-around: 200s average to 200, not 8); max_pool stays integer."""
    image = jnp.full((1, 2, 2, 1), 200, jnp.uint8)
    mean = F.avg_pool(image, 2)
    assert mean.dtype == jnp.float32 and float(mean[0, 0, 0, 0]) == 200.0
    assert float(F.lp_pool(image, 2, p=1.0)[0, 0, 0, 0]) == 800.0
    peak = F.max_pool(image, 2)
    assert peak.dtype == jnp.uint8 and int(peak[0, 0, 0, 0]) == 200
    assert float(F.global_avg_pool(image)[0, 0]) == 200.0
    # int8 convolution is refused (above); in float32 the 2700 of 3 x 3 x 3 taps of 10 * 10 is exact.
    x, w = jnp.full((1, 3, 3, 3), 10.0), jnp.full((3, 3, 3, 1), 10.0)
    assert float(F.conv(x, w, padding="VALID")[0, 0, 0, 0]) == 2700.0


def test_traced_negative_running_variance_gives_nan():
    """The running variance is refused when concrete; under jit, evaluation gives NaN for its channel."""
    state = {"mean": jnp.zeros(3), "var": jnp.array([1.0, -1.0, 1.0])}
    y, _ = jax.jit(lambda x, s: F.batch_norm(x, {}, s, train=False))(x4, state)
    assert np.isnan(np.asarray(y[..., 1])).all() and np.isfinite(np.asarray(y[..., ::2])).all()


SCALAR_HYPERPARAMETERS = [  # (id, op with a Python number, the same op with a NumPy or JAX scalar)
    (
        "dropout-rate",
        lambda: F.dropout(jax.random.key(0), x4, 0.5, train=True),
        lambda: F.dropout(jax.random.key(0), x4, jnp.float32(0.5), train=True),
    ),
    (
        "batch_norm-momentum-eps",
        lambda: F.batch_norm(x4, {}, state3, train=True, momentum=0.5, eps=1e-3)[1]["var"],
        lambda: F.batch_norm(x4, {}, state3, train=True, momentum=np.float32(0.5), eps=jnp.float32(1e-3))[1]["var"],
    ),
    (
        "label_smoothing",
        lambda: F.softmax_cross_entropy(logits, labels, label_smoothing=0.25),
        lambda: F.softmax_cross_entropy(logits, labels, label_smoothing=jnp.float32(0.25)),
    ),
    (
        "margin",
        lambda: F.multiclass_hinge(logits, labels, margin=2.0),
        lambda: F.multiclass_hinge(logits, labels, margin=np.float64(2.0)),
    ),
    ("lp_pool-p", lambda: F.lp_pool(x4, 2, p=3.0), lambda: F.lp_pool(x4, 2, p=jnp.float32(3.0))),
    (
        "local_response_norm-size",
        lambda: F.local_response_norm(x4, size=3),
        lambda: F.local_response_norm(x4, size=jnp.int32(3)),
    ),
    ("channel_max_pool-pool_size", lambda: F.channel_max_pool(x4, 3), lambda: F.channel_max_pool(x4, np.int64(3))),
    (
        "max_norm",
        lambda: F.max_norm_project({"w": jnp.ones((2, 2))}, 0.5)["w"],
        lambda: F.max_norm_project({"w": jnp.ones((2, 2))}, jnp.float32(0.5))["w"],
    ),
]


@pytest.mark.parametrize(
    "python, scalar", [c[1:] for c in SCALAR_HYPERPARAMETERS], ids=[c[0] for c in SCALAR_HYPERPARAMETERS]
)
def test_hyperparameters_accept_numpy_and_jax_scalars(python, scalar):
    np.testing.assert_allclose(np.asarray(scalar()), np.asarray(python()), rtol=1e-6)


def test_traced_hyperparameters_are_refused_by_name():
    """A drop rate decides the op's structure (rate 0 is the identity), so it must be known before tracing."""
    message = (
        r"rate: expected a drop probability in \[0, 1\) known before tracing, got a traced value; pass a "
        r"Python number \(under jax.jit, mark the argument static\)"
    )
    with pytest.raises(TypeError, match=message):
        jax.jit(lambda x, rate: F.dropout(jax.random.key(0), x, rate, train=True))(x4, 0.5)


@pytest.mark.parametrize("op", [F.max_pool, F.avg_pool, F.lp_pool])
def test_pooling_dimensions_follow_the_window(op):
    """A one-entry window pools 1-D signals (N, W, C); an int pools the H, W (or D, H, W) of a batch."""
    assert op(jnp.ones((2, 8, 3)), (2,)).shape == (2, 4, 3)
    assert op(jnp.ones((2, 8, 8, 3)), 2).shape == (2, 4, 4, 3)
    assert op(jnp.ones((2, 4, 8, 8, 3)), 2).shape == (2, 2, 4, 4, 3)
    assert op(jnp.ones((2, 4, 8, 8, 3)), (1, 2, 2)).shape == (2, 4, 4, 4, 3)


def test_array_arguments_accept_numpy_arrays_and_numbers():
    assert float(F.relu(-2.0)) == 0.0 and F.relu(np.float32(3.0)) == 3.0
    np.testing.assert_array_equal(
        F.conv(np.ones((1, 3, 3, 1), np.float32), np.ones((3, 3, 1, 1), np.float32), padding="VALID"), [[[[9.0]]]]
    )
    assert F.softmax_cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 2])).shape == (2,)

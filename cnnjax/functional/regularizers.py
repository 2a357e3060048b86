"""Weight regularisers over parameter pytrees, with a mask that leaves biases and normalisation parameters out.

The notes' forms: L2 = 1/2 ||W||^2 (its gradient is W: "weight decay"), L1 = ||W||_1, elastic net
= l1 ||W||_1 + l2 ||W||^2, and max-norm, a projection of each unit's incoming weight vector onto ||w||_2 <= c.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cnnjax.functional.checks import as_real, check_array, named_op

PyTree = object


def _check_leaves(params: PyTree) -> None:
    """Every leaf of a parameter tree must be an array (or a number), named by its path when not."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        check_array(leaf, f"params{jax.tree_util.keystr(path)}")


def weight_mask(params: PyTree) -> PyTree:
    """True for kernels (arrays of rank >= 2), False for biases and normalisation scales/offsets (rank 1)."""
    return jax.tree.map(lambda p: jnp.ndim(p) >= 2, params)


def _masked_leaves(params: PyTree, mask: PyTree | None) -> list[jax.Array]:
    _check_leaves(params)
    mask = weight_mask(params) if mask is None else mask
    return [p for p, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask)) if m]


@named_op("l2_penalty")
def l2_penalty(params: PyTree, mask: PyTree | None = None) -> jax.Array:
    """1/2 sum of squared weights over the masked leaves (default mask: `weight_mask`)."""
    return 0.5 * sum(jnp.sum(jnp.square(p)) for p in _masked_leaves(params, mask))


@named_op("l1_penalty")
def l1_penalty(params: PyTree, mask: PyTree | None = None) -> jax.Array:
    """Sum of absolute weights over the masked leaves (default mask: `weight_mask`)."""
    return sum(jnp.sum(jnp.abs(p)) for p in _masked_leaves(params, mask))


@named_op("elastic_net_penalty")
def elastic_net_penalty(params: PyTree, l1: float, l2: float, mask: PyTree | None = None) -> jax.Array:
    """l1 * ||W||_1 + l2 * ||W||_2^2 over the masked leaves."""
    return l1 * l1_penalty(params, mask) + l2 * 2.0 * l2_penalty(params, mask)


@named_op("max_norm_project")
def max_norm_project(params: PyTree, max_norm: float, mask: PyTree | None = None) -> PyTree:
    """Rescales each output unit's incoming weights to L2 norm <= max_norm (masked leaves only).

    A kernel's last axis indexes output units (HWIO, Dense (in, out)); the norm is over all other axes.
    """
    max_norm = as_real(max_norm, "max_norm", "a positive bound")
    if not max_norm > 0:
        raise ValueError(f"max_norm: expected a positive bound, got {max_norm!r}")
    _check_leaves(params)
    mask = weight_mask(params) if mask is None else mask

    def project(p, m):
        if not m:
            return p
        norms = jnp.sqrt(jnp.sum(jnp.square(p), axis=tuple(range(p.ndim - 1)), keepdims=True))
        return p * jnp.minimum(1.0, max_norm / jnp.maximum(norms, 1e-12))

    return jax.tree.map(project, params, mask)


@named_op("filter_rms_project")
def filter_rms_project(params: PyTree, radius: float) -> PyTree:
    """Rescales each convolution filter whose root-mean-square weight exceeds `radius` to that RMS (Zeiler & Fergus
    2013: radius 0.1). Convolution kernels are the rank >= 3 leaves (HWIO: one filter per output channel, the RMS
    over the other axes); dense kernels, biases and norms pass unchanged."""
    radius = as_real(radius, "radius", "a positive RMS")
    if not radius > 0:
        raise ValueError(f"radius: expected a positive RMS, got {radius!r}")
    _check_leaves(params)

    def project(p):
        if jnp.ndim(p) < 3:
            return p
        rms = jnp.sqrt(jnp.mean(jnp.square(p), axis=tuple(range(p.ndim - 1)), keepdims=True))
        return p * jnp.minimum(1.0, radius / jnp.maximum(rms, 1e-12))

    return jax.tree.map(project, params)

"""U-Net's up-convolutions (2x2, stride 2): the transposed convolution and its gradients, XLA's transposed
convolution (`lax.conv_transpose`, an lhs-dilated convolution) against the tiled formulation that
`cnnjax.functional.conv_transpose` takes under the "fast" profile on CPU (`conv._tiled_conv_transpose`: one
matrix product and a reshape).

    .venv/bin/python benchmarks/conv_transpose.py [--batch 32] [--calls 10]

Prints, per up-convolution of the registered `unet` on 32 x 32 inputs, the median ms of the forward and of the
gradient with respect to both operands for each route, and their largest difference. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

UPCONVS = [(2, 1024, 512), (4, 512, 256), (8, 256, 128), (16, 128, 64)]  # (input side, C_in, C_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()

    from cnnjax import backend

    backend.configure("fast")
    import jax
    import jax.numpy as jnp
    from jax import lax

    tiled = importlib.import_module("cnnjax.functional.conv")._tiled_conv_transpose

    def xla(x, w):
        return lax.conv_transpose(x, w, (2, 2), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def timed(f, *operands) -> float:
        jax.block_until_ready(f(*operands))
        times = []
        for _ in range(args.calls):
            began = time.perf_counter()
            jax.block_until_ready(f(*operands))
            times.append(time.perf_counter() - began)
        return 1e3 * statistics.median(times)

    print("| up-convolution | forward, XLA / tiled ms | gradient, XLA / tiled ms | gradient speed-up | max diff |")
    print("|---|---|---|---|---|")
    for side, c_in, c_out in UPCONVS:
        kx, kw = jax.random.split(jax.random.key(0))
        x = jax.random.normal(kx, (args.batch, side, side, c_in))
        w = 0.05 * jax.random.normal(kw, (2, 2, c_in, c_out))
        forward = {name: jax.jit(f) for name, f in (("xla", xla), ("tiled", tiled))}
        gradient = {
            name: jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(jnp.square(f(x, w))), (0, 1)))
            for name, f in (("xla", xla), ("tiled", tiled))
        }
        diff = float(jnp.max(jnp.abs(forward["xla"](x, w) - forward["tiled"](x, w))))
        fwd = {name: timed(f, x, w) for name, f in forward.items()}
        grad = {name: timed(f, x, w) for name, f in gradient.items()}
        print(
            f"| {side} -> {2 * side} px, {c_in} -> {c_out} | {fwd['xla']:.1f} / {fwd['tiled']:.1f} | "
            f"{grad['xla']:.1f} / {grad['tiled']:.1f} | {grad['xla'] / grad['tiled']:.1f}x | {diff:.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

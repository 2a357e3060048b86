"""The oneDNN convolution route of `cnnjax.functional.conv` (`cnnjax.functional.onednn`) against the lax route,
per convolution at ResNet-20's shapes (batch 128, 16/32/64 channels at 32/16/8 px), alternated in one process.

    .venv/bin/python benchmarks/onednn_conv.py [--batch 128] [--rounds 5] [--calls 5]

Runs under the "fast" profile (`cnnjax.backend`). For each shape and each of forward, backward-data (the input
gradient) and backward-weights (the kernel gradient): 'lax', cnnjax's conv without the oneDNN route (XLA's oneDNN
rewriter for forward and input gradient, the Eigen kernel-gradient formulation), and 'onednn', the custom calls.
Prints the median ms of each and lax / onednn (> 1: the custom call is faster).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

SHAPES = [  # (name, H, C_in, C_out, kernel, stride)
    ("stem 3->16 32px", 32, 3, 16, 3, 1),
    ("16->16 32px", 32, 16, 16, 3, 1),
    ("16->32 s2 32px", 32, 16, 32, 3, 2),
    ("32->32 16px", 16, 32, 32, 3, 1),
    ("32->64 s2 16px", 16, 32, 64, 3, 2),
    ("64->64 8px", 8, 64, 64, 3, 1),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args()

    from cnnjax import backend

    backend.configure("fast")

    import jax
    import jax.numpy as jnp
    import numpy as np

    from cnnjax.functional import onednn

    conv_module = importlib.import_module("cnnjax.functional.conv")  # the module (the package exports the function)

    if not onednn.available():
        raise SystemExit("the oneDNN convolution is not built: bash scripts/setup.sh")
    rng = np.random.default_rng(0)
    print(f"{'shape':18} {'op':8} {'lax ms':>8} {'onednn ms':>10} {'lax/onednn':>10}")
    for name, h, c_in, c_out, k, s in SHAPES:
        x = jnp.asarray(rng.standard_normal((args.batch, h, h, c_in)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((k, k, c_in, c_out)) * 0.1, jnp.float32)
        pad = (k - 1) // 2
        geometry = conv_module._Geometry((s, s), ((pad, pad), (pad, pad)), (1, 1), 1)
        routes = {
            "lax": lambda a, b, g=geometry: conv_module._conv(a, b, g),
            "onednn": lambda a, b, g=geometry: onednn.conv(a, b, g.strides, g.pairs, g.dilations, 1),
        }
        dy = jnp.asarray(rng.standard_normal(routes["lax"](x, w).shape), jnp.float32)
        timed = {}
        for route, f in routes.items():
            timed[("forward", route)] = jax.jit(f)
            timed[("bwd-data", route)] = jax.jit(lambda a, b, f=f, dy=dy: jax.vjp(lambda z: f(z, b), a)[1](dy)[0])
            timed[("bwd-wgt", route)] = jax.jit(lambda a, b, f=f, dy=dy: jax.vjp(lambda z: f(a, z), b)[1](dy)[0])
        times = {key: [] for key in timed}
        for fn in timed.values():
            jax.block_until_ready(fn(x, w))
        for r in range(args.rounds):
            for key in timed if r % 2 == 0 else list(timed)[::-1]:
                for _ in range(args.calls):
                    start = time.perf_counter()
                    jax.block_until_ready(timed[key](x, w))
                    times[key].append(time.perf_counter() - start)
        for op in ("forward", "bwd-data", "bwd-wgt"):
            lax_ms = statistics.median(times[(op, "lax")]) * 1e3
            dnnl_ms = statistics.median(times[(op, "onednn")]) * 1e3
            print(f"{name:18} {op:8} {lax_ms:8.2f} {dnnl_ms:10.2f} {lax_ms / dnnl_ms:10.2f}", flush=True)


if __name__ == "__main__":
    main()

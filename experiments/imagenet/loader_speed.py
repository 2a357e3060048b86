"""Images per second of the host input pipeline that feeds an ImageNet recipe: JPEG decoding, the resize to
`config.image_size` (shorter side, centre square) and batching, by `cnnjax.data.batches` with `data_workers`
worker processes (0: 8 threads in the training process).

    python -m experiments.imagenet.loader_speed                          # sizes 256 480 512, workers 0 1 2
    python -m experiments.imagenet.loader_speed --sizes 256 --workers 0 2 --epoch 1024 --json out.json

The images are synthetic JPEGs at ILSVRC-2012's typical size and compression (500 x 375 and 375 x 500, quality 90,
smooth random content with sensor-like noise: ~100 KB each; ILSVRC-2012 averages ~110 KB), decoded on access as
tfds's array_record data source decodes them; reading the files from disk is not included. The figures are the
host's side of the comparison with an accelerator's training step (img/s of `benchmarks/run.py`): the loader must
deliver at least what the step consumes. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

import numpy as np

from cnnjax import data


class JpegSource:
    """`length` examples cycling over `count` synthetic JPEG-encoded photographs, decoded on access like tfds's
    data source: a sequence of {'image': uint8 (H, W, 3), 'label': int}; picklable (grain worker processes
    receive it)."""

    def __init__(self, count: int, length: int, seed: int = 0):
        self.length = length
        from PIL import Image

        rng = np.random.default_rng(seed)
        self.encoded = []
        for i in range(count):
            h, w = (375, 500) if i % 2 == 0 else (500, 375)
            coarse = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
            smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), np.int16)
            image = np.clip(smooth + rng.normal(0, 18, smooth.shape), 0, 255).astype(np.uint8)  # sensor-like noise
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=90)
            self.encoded.append(buffer.getvalue())

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        from PIL import Image

        encoded = self.encoded[index % len(self.encoded)]
        return {"image": np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")), "label": index % 1000}


def images_per_sec(source: data.Source, batch_size: int, workers: int) -> float:
    """img/s over one epoch of `source` in batches, timed from the first batch (the workers' start-up, once an
    epoch, is left out: an ImageNet epoch amortises it over 1.28M images)."""
    count, started = 0, None
    for batch in data.batches(source, batch_size, seed=0, epoch=0, worker_count=workers):
        if started is None:
            started = time.perf_counter()
            continue
        count += len(batch["label"])
    return count / (time.perf_counter() - started)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_positive, nargs="+", default=[256, 480, 512], help="config.image_size values")
    parser.add_argument(
        "--workers", type=_non_negative, nargs="+", default=[0, 1, 2], help="config.data_workers values"
    )
    parser.add_argument("--images", type=_positive, default=256, help="distinct synthetic JPEGs")
    parser.add_argument("--epoch", type=_positive, default=3072, help="images read per measurement (cycling)")
    parser.add_argument("--batch", type=_positive, default=64)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    jpegs = JpegSource(args.images, args.epoch)
    kilobytes = sum(len(b) for b in jpegs.encoded) / len(jpegs.encoded) / 1024
    print(
        f"{args.epoch} reads of {args.images} synthetic JPEGs ({kilobytes:.0f} KB on average), batch {args.batch}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| image_size | data_workers | img/s |")
    print("|---|---|---|")
    rows = []
    for size in args.sizes:
        source = data.TfdsSource(jpegs, data.ResizeCenterCrop(size))
        for workers in args.workers:
            rate = images_per_sec(source, args.batch, workers)
            rows.append({"image_size": size, "data_workers": workers, "images_per_sec": round(rate, 1)})
            print(f"| {size} | {workers} | {rate:,.0f} |", flush=True)
    if args.json:
        meta = {"images": args.images, "reads": args.epoch, "mean_kb": round(kilobytes, 1), "batch": args.batch}
        meta["cpus"] = os.cpu_count()
        with open(args.json, "w") as f:
            json.dump({**meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

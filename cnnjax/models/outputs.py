"""What a model's outputs are: the task of its main output, and its auxiliary outputs with their loss weights.

A model declares its outputs with an `outputs` class attribute (or property) holding an `OutputSpec`; models that
declare nothing are classifiers with a single output. In training, a model with auxiliary outputs returns the tuple
(main, *auxiliary) in the order of `OutputSpec.aux`; in evaluation it returns the main output alone.
The trainer (`cnnjax.train.tasks`) turns the task name into targets, a loss and metrics.
"""

from __future__ import annotations

import dataclasses

TASKS = ("classification", "reconstruction", "segmentation")


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """task: what the main output is trained for, one of TASKS ('classification': (N, classes) logits,
    'reconstruction': an image like the input, 'segmentation': (N, H, W, classes) per-pixel logits).
    aux: (name, loss weight) of each auxiliary output, in the order the model returns them in training."""

    task: str = "classification"
    aux: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task: expected one of {list(TASKS)}, got {self.task!r}")


CLASSIFIER = OutputSpec()


def output_spec(model: object) -> OutputSpec:
    """The `OutputSpec` a model (instance or class) declares in its `outputs` attribute; a classifier if none."""
    spec = getattr(model, "outputs", CLASSIFIER)
    if isinstance(spec, property):  # asked of the class: the property needs an instance's fields
        raise TypeError(f"model: expected an instance of {model!r} (its outputs depend on its options)")
    if not isinstance(spec, OutputSpec):
        raise TypeError(f"{type(model).__name__}.outputs: expected an OutputSpec, got {spec!r}")
    return spec

"""torchvision state dicts <-> cnnjax variables, for AlexNet, VGG, GoogLeNet and the ImageNet ResNets.

`from_torchvision(name, state_dict)` builds the matching cnnjax model and fills its variables; `to_torchvision` is
its inverse. A state dict here is a mapping of torchvision's parameter names to NumPy arrays (for example
`{k: v.numpy() for k, v in model.state_dict().items()}`); torch is not imported.

The mapping is data: each `Family` lists regex rules that turn a cnnjax module path ('layer1_0/conv1') into the
torchvision module name ('layer1.0.conv1'), and the variables of that module map by kind:

  cnnjax                           torchvision                 layout
  params/<m>/kernel  (conv)        <m>.weight                  (kh, kw, in, out) HWIO <- (out, in, kh, kw) OIHW
  params/<m>/kernel  (Dense)       <m>.weight                  (in, out) <- (out, in)
  params/<m>/scale   (BatchNorm)   <m>.weight
  params/<m>/bias                  <m>.bias
  batch_stats/<m>/mean             <m>.running_mean
  batch_stats/<m>/var              <m>.running_var
  (ignored)                        <m>.num_batches_tracked     for every BatchNorm <m>

A Dense layer fed by a flattened feature map (AlexNet's and VGG's fc1, GoogLeNet's aux*/fc1) sees its inputs in
(h, w, c) order here and in (c, h, w) order in torchvision: its kernel rows are permuted on the way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from cnnjax import models
from cnnjax.models import vgg

Rules = tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class Family:
    """How one torchvision family maps onto a cnnjax model.

    Attributes:
      model: the cnnjax registry name.
      rules: regex (pattern, replacement) pairs, applied in order with `re.sub` to the '/'-joined cnnjax module
        path; the result, '/' read as '.', is the torchvision module name.
      classifier: the torchvision key whose first dimension is the number of classes.
      head: the cnnjax module of that classifier (its kernel's last dimension).
      flattened: cnnjax Dense modules (full paths, regex) fed by a flattened map -> that map's (H, W).
      options: extra `models.create` options, from the model's top-level module names (the first component of
        its torchvision keys; the names such options look at, like GoogLeNet's 'aux1', are the same in cnnjax).
    """

    model: str
    rules: Rules
    classifier: str
    head: str
    flattened: Mapping[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    options: Callable[[set[str]], dict] = lambda modules: {}


def _renames(table: Mapping[str, str]) -> Rules:
    """Rules renaming whole top-level modules, e.g. {'conv1': 'features.0'}."""
    return tuple((rf"^{re.escape(ours)}(?=/|$)", theirs) for ours, theirs in table.items())


# torchvision.models.alexnet's `features` and `classifier` indices of cnnjax's `alexnet_tv` layers.
ALEXNET_NAMES: dict[str, str] = {
    "conv1": "features.0",
    "conv2": "features.3",
    "conv3": "features.6",
    "conv4": "features.8",
    "conv5": "features.10",
    "fc1": "classifier.1",
    "fc2": "classifier.4",
    "fc3": "classifier.6",
}

VGG_CONFIGS = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}  # torchvision's; C and A-LRN are not there


def vgg_names(config: str = "D", batch_norm: bool = False) -> dict[str, str]:
    """Maps cnnjax VGG submodule names to torchvision's, e.g. {'conv1_1': 'features.0', ..., 'fc3': 'classifier.6'}.

    torchvision's `features` holds conv, [bn,] relu per layer and a max-pool per block, numbered in order.
    """
    if config not in VGG_CONFIGS.values():
        raise ValueError(f"config: torchvision has VGG configurations {list(VGG_CONFIGS.values())}, got {config!r}")
    names, index = {}, 0
    for b, block in enumerate(vgg.blocks(config), start=1):
        for i, _ in enumerate(block, start=1):
            names[f"conv{b}_{i}"] = f"features.{index}"
            if batch_norm:
                names[f"bn{b}_{i}"] = f"features.{index + 1}"
            index += 3 if batch_norm else 2
        index += 1  # the block's max-pool
    names.update({"fc1": "classifier.0", "fc2": "classifier.3", "fc3": "classifier.6"})
    return names


def _vgg(name: str) -> Family:
    """torchvision's `name` ('vgg16', 'vgg16_bn', ...) is cnnjax's `name`."""
    config, batch_norm = VGG_CONFIGS[name.removesuffix("_bn")], name.endswith("_bn")
    return Family(
        model=name,
        rules=_renames(vgg_names(config, batch_norm)),
        classifier="classifier.6.weight",
        head="fc3",
        flattened={"fc1": (7, 7)},
    )


_RESNET_RULES: Rules = (
    (r"^layer(\d+)_(\d+)", r"layer\1.\2"),
    (r"downsample_conv$", "downsample.0"),
    (r"downsample_bn$", "downsample.1"),
)


def _resnet(name: str) -> Family:
    """torchvision's `name` ('resnet18', ...) is cnnjax's `name`."""
    return Family(model=name, rules=_RESNET_RULES, classifier="fc.weight", head="fc")


FAMILIES: dict[str, Family] = {
    "alexnet": Family(
        model="alexnet_tv",
        rules=_renames(ALEXNET_NAMES),
        classifier="classifier.6.weight",
        head="fc3",
        flattened={"fc1": (6, 6)},
    ),
    "vgg11": _vgg("vgg11"),
    "vgg11_bn": _vgg("vgg11_bn"),
    "vgg13": _vgg("vgg13"),
    "vgg13_bn": _vgg("vgg13_bn"),
    "vgg16": _vgg("vgg16"),
    "vgg16_bn": _vgg("vgg16_bn"),
    "vgg19": _vgg("vgg19"),
    "vgg19_bn": _vgg("vgg19_bn"),
    "googlenet": Family(
        model="googlenet_tv",
        rules=((r"branch(\d)_(\d)", r"branch\1.\2"),),
        classifier="fc.weight",
        head="fc",
        flattened={r"aux\d/fc1": (4, 4)},
        options=lambda modules: {"aux_logits": bool(modules & {"aux1", "aux2"})},
    ),
    "resnet18": _resnet("resnet18"),
    "resnet34": _resnet("resnet34"),
    "resnet50": _resnet("resnet50"),
    "resnet101": _resnet("resnet101"),
    "resnet152": _resnet("resnet152"),
}

SUPPORTED: tuple[str, ...] = tuple(FAMILIES)

# cnnjax (collection, variable) -> the suffix of the torchvision key.
_SUFFIXES = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One cnnjax variable and its torchvision key; `flattened` is the (H, W) of a Dense fed by a flattened map."""

    path: tuple[str, ...]  # (collection, *module path, variable)
    key: str
    shape: tuple[int, ...]  # cnnjax's
    flattened: tuple[int, int] | None = None

    def from_torch(self, value: np.ndarray) -> np.ndarray:
        """torchvision layout -> cnnjax layout."""
        if self.path[-1] != "kernel":
            return value
        if value.ndim == 4:
            return value.transpose(2, 3, 1, 0)
        if self.flattened is not None:
            h, w = self.flattened
            out, features = value.shape
            value = value.reshape(out, features // (h * w), h, w).transpose(0, 2, 3, 1).reshape(out, features)
        return value.T

    def to_torch(self, value: np.ndarray) -> np.ndarray:
        """cnnjax layout -> torchvision layout."""
        if self.path[-1] != "kernel":
            return value
        if value.ndim == 4:
            return value.transpose(3, 2, 0, 1)
        value = value.T
        if self.flattened is not None:
            h, w = self.flattened
            out, features = value.shape
            value = value.reshape(out, h, w, features // (h * w)).transpose(0, 3, 1, 2).reshape(out, features)
        return value

    @property
    def torch_shape(self) -> tuple[int, ...]:
        """The shape torchvision stores this variable with."""
        if self.path[-1] != "kernel":
            return self.shape
        return (self.shape[3], self.shape[2], *self.shape[:2]) if len(self.shape) == 4 else self.shape[::-1]


def _family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"name: expected a torchvision model name, one of {list(SUPPORTED)}, got {name!r}")
    return FAMILIES[name]


def _torch_module(module: str, rules: Rules) -> str:
    """'layer1_0/conv1' -> 'layer1.0.conv1' under `rules`."""
    for pattern, replacement in rules:
        module = re.sub(pattern, replacement, module)
    return module.replace("/", ".")


def _entries(name: str, model: nn.Module) -> list[Entry]:
    """Every variable of `model` (shapes from an abstract init) with its torchvision key."""
    family = _family(name)
    rules = family.rules
    shape = models.input_shape(family.model)
    abstract = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, *shape), jnp.float32))
    entries = []
    for path, leaf in traverse_util.flatten_dict(abstract).items():
        collection, *module, variable = path
        if (collection, variable) not in _SUFFIXES:
            raise ValueError(f"name: {name!r} maps onto a cnnjax variable {'/'.join(path)} with no torchvision rule")
        module_path = "/".join(module)
        flattened = next((hw for pattern, hw in family.flattened.items() if re.fullmatch(pattern, module_path)), None)
        key = f"{_torch_module(module_path, rules)}.{_SUFFIXES[collection, variable]}"
        entries.append(Entry(tuple(path), key, tuple(leaf.shape), flattened if variable == "kernel" else None))
    return entries


def _batch_norm_modules(entries: list[Entry]) -> set[str]:
    return {entry.key.removesuffix(".running_mean") for entry in entries if entry.path[-1] == "mean"}


def create(name: str, state_dict: Mapping[str, np.ndarray]) -> nn.Module:
    """The cnnjax model matching a torchvision `name` and the keys and classifier shape of its `state_dict`."""
    family = _family(name)
    if family.classifier not in state_dict:
        raise ValueError(
            f"state_dict: a {name!r} state dict needs the classifier weight {family.classifier!r}; missing"
        )
    num_classes = int(np.shape(state_dict[family.classifier])[0])
    modules = {key.split(".")[0] for key in state_dict}
    return models.create(family.model, num_classes=num_classes, **family.options(modules))


def from_torchvision(name: str, state_dict: Mapping[str, np.ndarray]) -> tuple[nn.Module, dict]:
    """Builds the cnnjax model for a torchvision model and converts its weights.

    Args:
      name: a torchvision model name: 'alexnet', 'vgg11' ... 'vgg19' and their '_bn' variants, 'googlenet',
        'resnet18' ... 'resnet152'. alexnet -> cnnjax 'alexnet_tv', googlenet -> 'googlenet_tv' (with the
        auxiliary heads when the state dict has 'aux*' keys), the others keep their names.
      state_dict: torchvision parameter names -> arrays (NumPy, or anything `np.asarray` accepts). The number of
        classes is read off the classifier's weight.

    Returns:
      (module, variables): `module.apply(variables, x_nhwc, train=False)` gives torchvision's eval-mode logits for
      the NCHW input `x_nhwc.transpose(0, 3, 1, 2)`. variables = {'params': ..., 'batch_stats': ...} (the second
      only where the model has BatchNorm), float32 arrays.

    Raises:
      ValueError: for an unknown name, a key the model has no variable for, a variable no key fills, or a shape
        that differs from the model's (naming the key and both shapes).
    """
    model = create(name, state_dict)
    entries = _entries(name, model)
    expected = {entry.key for entry in entries}
    ignored = {f"{module}.num_batches_tracked" for module in _batch_norm_modules(entries)}
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - expected - ignored)
    if missing or unexpected:
        raise ValueError(
            f"state_dict: does not match torchvision's {name!r}: missing keys {missing}, unexpected keys {unexpected}"
        )
    flat = {}
    for entry in entries:
        value = np.asarray(state_dict[entry.key], dtype=np.float32)
        if value.shape != entry.torch_shape:
            raise ValueError(
                f"state_dict: {entry.key!r} has shape {value.shape}, expected {entry.torch_shape} "
                f"(cnnjax {'/'.join(entry.path)} {entry.shape})"
            )
        flat[entry.path] = jnp.asarray(np.ascontiguousarray(entry.from_torch(value)))
    return model, traverse_util.unflatten_dict(flat)


def to_torchvision(name: str, variables: Mapping) -> dict[str, np.ndarray]:
    """The inverse of `from_torchvision`: cnnjax variables of the model it builds -> a torchvision state dict.

    Includes `num_batches_tracked` (0) for every BatchNorm, so that `torch_model.load_state_dict(...)` with
    `strict=True` accepts it after conversion to tensors. The number of classes and the auxiliary heads are read
    off `variables`.
    """
    flat = {path: np.asarray(value) for path, value in traverse_util.flatten_dict(dict(variables)).items()}
    family = _family(name)
    classifier = ("params", family.head, "kernel")
    if classifier not in flat:
        raise ValueError(f"variables: a {name!r} model needs the classifier kernel {'/'.join(classifier)}; missing")
    num_classes = int(flat[classifier].shape[-1])
    options = family.options({path[1] for path in flat})
    entries = _entries(name, models.create(family.model, num_classes=num_classes, **options))
    missing = sorted("/".join(e.path) for e in entries if e.path not in flat)
    unexpected = sorted("/".join(p) for p in set(flat) - {e.path for e in entries})
    if missing or unexpected:
        raise ValueError(f"variables: do not match {name!r}: missing {missing}, unexpected {unexpected}")
    state_dict = {}
    for entry in entries:
        if flat[entry.path].shape != entry.shape:
            raise ValueError(
                f"variables: {'/'.join(entry.path)} has shape {flat[entry.path].shape}, expected {entry.shape}"
            )
        state_dict[entry.key] = np.ascontiguousarray(entry.to_torch(flat[entry.path]))
    for module in _batch_norm_modules(entries):
        state_dict[f"{module}.num_batches_tracked"] = np.zeros((), np.int64)
    return state_dict

"""The "Size of CNNs" table of Gao's lecture notes on CNNs (William & Mary), recomputed layer by layer with
`cnnjax.summary`.

    .venv/bin/python experiments/size_of_cnns.py

LeNet (1998) is `lenet5_classic` at 32x32x1 (C3's partial connection table, trainable subsampling; a 10-way dense
output layer stands in for the paper's RBF units); AlexNet (2012) is `alexnet` at 227x227x3 (two towers). The
table's LeNet (1989) column has no model here and serves only to check the operations convention.

Definitions (each printed under the table):
  units: output elements per image of the weight layers (convolutions, LeNet's trainable subsampling, dense
    layers); the input image is never counted. Shown without and with the output layer.
  parameters: trainable weights and biases.
  connections: MACs plus one bias connection per unit, as LeCun counts them (C1: 28*28*6*(25+1) = 122,304).
  operations: the table's "total operations" is a whole-training estimate, k * connections * examples * epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnjax import models
from cnnjax.summary import Summary, summary


@dataclass(frozen=True)
class Column:
    title: str
    model: str
    examples: int  # training examples
    epochs: int  # passes over them
    table: dict[str, str]  # the table's figures as printed there, by the row whose definition they match


COLUMNS = (
    Column(
        "LeNet (1998)",
        "lenet5_classic",
        60_000,
        20,  # LeCun et al. 1998 trained 20 passes over MNIST
        {
            "units (no output layer)": "8,084",
            "parameters (no output layer)": "60,000",
            "connections (no output layer)": "344,000",
            "operations, k = 1": "412 billion",
        },
    ),
    Column(
        "AlexNet (2012)",
        "alexnet",
        1_200_000,
        90,  # Krizhevsky et al. 2012: "roughly 90 cycles" over 1.2 M
        {
            "units (no output layer)": "658,000",
            "parameters (all layers)": "60 million",
            "connections (all layers)": "652 million",
            "operations, k = 3": "200 quadrillion (est.)",
        },
    ),
)
LENET_1989 = {"connections": 65_000, "examples": 7_291, "epochs": 23, "operations": 11e9}  # LeCun et al. 1989

NOTES = """\
units        outputs per image of the weight layers (conv, LeNet's S2/S4 subsampling, dense); the input is not
             counted. The table leaves the output layer out (LeNet 8,084 exactly; AlexNet 658,272 -> 658,000).
parameters   trainable weights and biases. The table's LeNet 60,000 leaves the output layer (850 here, a dense
             10-way layer for the paper's RBF units) out; AlexNet's "60 million" is the paper's total with it.
connections  MACs + one bias connection per unit (LeCun: C1 = 28*28*6*(25+1) = 122,304; S2 = 1,176*(4+1)).
             LeNet: the sum of LeCun's own per-layer figures is {lenet_hidden:,}, 1% under the table's 344,000.
             AlexNet: the table's 652 million is 10% under ours and does not follow from the paper's layer sizes
             (the five convolutions alone are {alexnet_conv:,} MACs).
operations   k x connections x training examples x epochs (LeNet-98: 20 passes over 60,000; AlexNet: 90 epochs
             over 1.2 M). The table's LeNet columns use k = 1 (344,000 x 60,000 x 20 = 412.8 billion; LeNet-89:
             65,000 x 7,291 x 23 = {lenet89}), its AlexNet column k = 3, a forward and a backward pass
             (652 M x 1.2 M x 90 x 3 = {alexnet_table_k3}). Ours use every weight layer's connections."""


@dataclass(frozen=True)
class Size:
    units: tuple[int, int]  # (without, with) the output layer
    parameters: tuple[int, int]
    connections: tuple[int, int]
    conv_macs: int


def size(s: Summary) -> Size:
    """Totals of the weight layers (MACs > 0) of a summary, without and with the last one (the output layer)."""
    weight_layers = [layer for layer in s.layers if layer.macs]
    output = weight_layers[-1]

    def both(values: list[int], last: int) -> tuple[int, int]:
        return sum(values) - last, sum(values)

    return Size(
        units=both([layer.units for layer in weight_layers], output.units),
        parameters=(s.params - output.params, s.params),
        connections=both([layer.connections for layer in weight_layers], output.connections),
        conv_macs=sum(layer.macs for layer in weight_layers if layer.type == "Conv"),
    )


def words(n: float) -> str:
    """412.8e9 -> '412.8 billion'."""
    for name, scale in (("quadrillion", 1e15), ("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if n >= scale:
            return f"{n / scale:.4g} {name}"
    return f"{n:,.0f}"


def main() -> None:
    sizes = [size(summary(models.create(c.model), models.input_shape(c.model))) for c in COLUMNS]
    rows: list[tuple[str, ...]] = [("", *(x for c in COLUMNS for x in (f"{c.title} ours", "table")))]

    def row(label: str, values: list[str]) -> None:
        rows.append((label, *(x for value, c in zip(values, COLUMNS) for x in (value, c.table.get(label, "")))))

    for key in ("units", "parameters", "connections"):
        pairs = [getattr(s, key) for s in sizes]
        row(f"{key} (no output layer)", [f"{p[0]:,}" for p in pairs])
        row(f"{key} (all layers)", [f"{p[1]:,}" for p in pairs])
    for k in (1, 3):
        operations = [k * s.connections[1] * c.examples * c.epochs for s, c in zip(sizes, COLUMNS)]
        row(f"operations, k = {k}", [words(n) for n in operations])

    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"Size of CNNs: {', '.join(f'{c.title} = {c.model} {models.input_shape(c.model)}' for c in COLUMNS)}\n")
    for r in rows:
        print("  ".join([r[0].ljust(widths[0]), *(x.rjust(w) for x, w in zip(r[1:], widths[1:]))]).rstrip())
    lenet, alexnet = sizes
    print()
    print(
        NOTES.format(
            lenet_hidden=lenet.connections[0],
            alexnet_conv=alexnet.conv_macs,
            lenet89=words(LENET_1989["connections"] * LENET_1989["examples"] * LENET_1989["epochs"]),
            alexnet_table_k3=words(652e6 * 1.2e6 * 90 * 3),
        )
    )


if __name__ == "__main__":
    main()

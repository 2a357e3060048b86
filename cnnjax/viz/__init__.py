"""Figures of a CNN and its training (matplotlib, headless): learned filters, feature maps, occlusion, saliency,
the fixed kernels, training curves, the confusion matrix and misclassified examples.

    from cnnjax import viz
    run = viz.load_run("runs/lenet5")                      # config, metrics, newest checkpoint, dataset
    layer = viz.find_layer(run.layers, "conv1", need="filters")
    fig = viz.filters_figure(viz.layer_kernel(run.variables, layer), title="lenet5 · conv1")
    viz.save(fig, "filters.png")

`analysis` computes (JAX), `figures` draws (arrays in, a matplotlib Figure out), `run` reads a workdir, `cli` is
`cnnjax viz`. Needs the 'viz' extra (matplotlib); `import cnnjax` does not import this package.
"""

from cnnjax.viz.analysis import (
    Layer,
    Occlusion,
    confusion_matrix,
    eligible,
    feature_maps,
    find_layer,
    fixed_filter_responses,
    layer_kernel,
    layers,
    most_confident_errors,
    occlusion,
    predict,
    saliency,
)
from cnnjax.viz.figures import (
    confusion_figure,
    curves_figure,
    errors_figure,
    featuremaps_figure,
    filters_figure,
    kernels_figure,
    lr_steps,
    occlusion_figure,
    saliency_figure,
    save,
)
from cnnjax.viz.run import Run, load_run

__all__ = [
    "Layer",
    "Occlusion",
    "Run",
    "confusion_figure",
    "confusion_matrix",
    "curves_figure",
    "eligible",
    "errors_figure",
    "feature_maps",
    "featuremaps_figure",
    "filters_figure",
    "find_layer",
    "fixed_filter_responses",
    "kernels_figure",
    "layer_kernel",
    "layers",
    "load_run",
    "lr_steps",
    "most_confident_errors",
    "occlusion",
    "occlusion_figure",
    "predict",
    "saliency",
    "saliency_figure",
    "save",
]

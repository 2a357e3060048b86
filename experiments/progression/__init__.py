"""The error-progression study: ImageNet's 2010-2015 progression in kind, measured on Fashion-MNIST.

One row per year's method (`rows.ROWS`): hand-designed descriptors + a linear SVM for 2010/2011 (`descriptor`,
`hog`, `svm`), then the CNNs, each a cnnjax training config (`cnn`). Each (row, seed) trains in its own workdir
under runs/progression/ and writes a small result file under results/ (`runner`); `merge` tables and plots them
beside ImageNet's published top-5 errors. Commands: see `__main__`.
"""

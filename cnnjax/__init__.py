"""cnnjax: convolutional networks in JAX."""

__version__ = "0.1.0"

from cnnjax.summary import summary  # noqa: E402

"""Log records of the libraries cnnjax calls that only repeat, or precede, what cnnjax says itself."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def absl_records_dropped(drop: Callable[[logging.LogRecord], bool]) -> Iterator[None]:
    """While the block runs, drops the records of the 'absl' logger (orbax's and tfds's) for which `drop` is true;
    the others pass."""

    def keep(record: logging.LogRecord) -> bool:
        return not drop(record)

    logger = logging.getLogger("absl")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)

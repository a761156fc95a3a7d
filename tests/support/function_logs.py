"""What the functions log (their stdout on Lambda), captured whatever pytest does with stdout."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def function_logs() -> Iterator[list[dict]]:
    """The Powertools log lines written inside the block, one dict each, filled in when the block ends."""
    from picr.runtime import logger

    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        lines.extend(json.loads(line) for line in captured.getvalue().splitlines())

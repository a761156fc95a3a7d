"""The layout's size rules, so a module or a handler that grows past them is caught where it grows."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "layers" / "pillow" / "picr"
MODULE_MAX_LINES = 350   # one concern per module: past this it holds two
HANDLER_MAX_LINES = 60   # a handler parses, calls its stage and returns


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_package_module_is_over_the_limit(module: Path) -> None:
    assert _lines(module) <= MODULE_MAX_LINES


@pytest.mark.parametrize("handler", sorted((REPO / "functions").glob("*/app.py")), ids=lambda p: p.parent.name)
def test_every_handler_stays_thin(handler: Path) -> None:
    assert _lines(handler) <= HANDLER_MAX_LINES

"""The one Jinja environment behind every email and page picr renders, over the templates in ``templates/``.

HTML templates are autoescaped: product names, reasons and file names come from uploads, emails and Drive.
Plain-text mail templates (``.txt``) are not, since they are never shown as HTML. ``StrictUndefined`` makes a
template that names a value its caller did not pass fail loudly, instead of rendering an empty string into
an owner's email or a public page. Block tags leave no blank lines behind them (``trim_blocks``,
``lstrip_blocks``), and a text template's last newline is kept.

Jinja is imported with the environment, on the first render: most of the modules that render something are
imported by handlers that render only on some requests, and a cold start should not pay for it before then.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATE_DIR = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template_name: str, context: Mapping[str, Any]) -> str:
    return environment().get_template(template_name).render(context)

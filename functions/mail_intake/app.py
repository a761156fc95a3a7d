"""picr-mail-intake: placeholder so `make build` has a handler to package; the lead replaces this file."""

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("picr-mail-intake is not written yet")

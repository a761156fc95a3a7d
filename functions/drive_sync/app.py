"""picr-drive-sync: placeholder so `make build` has a handler to package; the lead replaces this file."""

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("picr-drive-sync is not written yet")

"""JSON from clients (API bodies, WebSocket messages), parsed so that no input can raise
anything but `ClientJsonError`: not JSON, not UTF-8, or nested deeper than any message of
ours needs (the standard parser recurses, and `[` x 1000 raised RecursionError, a 500).
Called by the API's body-taking endpoints and the dashboard consumer."""

from __future__ import annotations

import json

MAX_DEPTH = 32  # our deepest message is 3 levels (an alert's webhook object)


class ClientJsonError(ValueError):
    """What is wrong with a client's JSON (shown to the client)."""


def _too_deep(value: object) -> bool:
    """Whether `value` nests containers deeper than MAX_DEPTH (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def loads_client_json(data: bytes | str) -> object:
    """The parsed value, or ClientJsonError naming the problem."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ClientJsonError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ClientJsonError("not JSON") from None
    if _too_deep(value):
        raise ClientJsonError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value

"""The problem document (RFC 9457) both faces answer with, framework-free.

``type`` is ``urn:keystile:problem:<code>`` (an identifier, not a page) and ``code`` is
snake_case and always present, so a client handles the gateway and the admin with one
switch on ``code``. The gateway renders it to ASGI bytes (:mod:`gateway.refusals.problems`),
the admin to a Flask response (:mod:`admin_plugin.problems`).
"""

from __future__ import annotations

import re
from typing import Any

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:keystile:problem:"
CODE_RE = re.compile(r"[a-z]+(_[a-z]+)*")

# Codes both faces answer with (each with its own detail).
STORE_UNAVAILABLE = "store_unavailable"
STORE_UNAVAILABLE_TITLE = "Key store unavailable"


def document(code: str, status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The members, in the order they are sent: ``type``, ``title``, ``status``,
    ``detail``, ``code``, then any extension members."""
    return {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }

"""Human durations for the command line: ``90s``, ``30m``, ``12h``, ``7d``, ``2w``."""

from __future__ import annotations

import re

from policies.errors import KeystileError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d{1,9})([smhdw]?)")


def parse_duration(text: str) -> float:
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        raise KeystileError(f"{text!r} is not a duration: use e.g. 90s, 30m, 12h, 7d")
    return float(int(match.group(1)) * _UNITS[match.group(2) or "s"])

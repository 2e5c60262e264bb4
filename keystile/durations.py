"""Human durations for the command line: ``90s``, ``30m``, ``12h``, ``7d``, ``2w``."""

from __future__ import annotations

import re

from policies.errors import KeystileError
from policies.times import MAX_LIFETIME_DAYS, MAX_LIFETIME_SECONDS

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d{1,9})([smhdw]?)")


def parse_duration(text: str) -> float:
    """Seconds; refuses an empty text and anything beyond the store's longest lifetime."""
    match = _DURATION_RE.fullmatch(text.strip().lower()) if len(text) <= 32 else None
    if match is None:
        raise KeystileError(f"{text[:32]!r} is not a duration: use e.g. 90s, 30m, 12h, 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds > MAX_LIFETIME_SECONDS:
        raise KeystileError(f"a duration can be at most {MAX_LIFETIME_DAYS} days")
    return float(seconds)

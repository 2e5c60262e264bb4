"""Times the store accepts, and how any stored time is shown.

One place for both sides of issue 11's far-future expiry: the store refuses an expiry that
is not a finite time in the future within :data:`MAX_LIFETIME_SECONDS` (admin and CLI share
that check), and :func:`format_time` shows whatever an older version or a hand edit left in
Redis without raising (``datetime`` stops at year 9999).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TypeGuard

from policies.errors import KeystileError

MAX_LIFETIME_DAYS = 3650
MAX_LIFETIME_SECONDS = MAX_LIFETIME_DAYS * 86400
# Stored times (created, revoked, last used, an imported expiry) must lie in this range.
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def is_time(value: object) -> TypeGuard[float]:
    """A finite unix time between 1970 and :data:`LATEST_TIME` (bools are not times)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= LATEST_TIME
    )


def check_expiry(expires: float | None, now: float) -> float | None:
    """An expiry for a new token: None (never), or finite, future, and at most
    :data:`MAX_LIFETIME_DAYS` days away."""
    if expires is None:
        return None
    finite = isinstance(expires, int | float) and not isinstance(expires, bool)
    if not finite or not math.isfinite(expires) or expires <= now:
        raise KeystileError("a token's expiry must be a finite time in the future")
    if expires > now + MAX_LIFETIME_SECONDS:
        raise KeystileError(f"a token's expiry can be at most {MAX_LIFETIME_DAYS} days away")
    return float(expires)


def stored_time(raw: str) -> float:
    """A time stored as text; NaN (shown as "invalid time") if it is not a number."""
    try:
        return float(raw)
    except ValueError:
        return math.nan


def format_time(value: object, pattern: str = "%Y-%m-%d %H:%M:%SZ", empty: str = "-") -> str:
    """``value`` (a unix time) in UTC; ``empty`` for None; never raises on stored junk."""
    if value is None:
        return empty
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC).strftime(pattern)
        except (OverflowError, OSError, ValueError):
            return "after 9999" if value > 0 else "before 1970"
    return "invalid time"

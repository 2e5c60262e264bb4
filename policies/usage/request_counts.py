"""Usage counts: who called what, how it ended, from where; per minute, hour and day.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policies.catalog.rules import WILDCARD, Rule

ALLOWED = "allowed"
PUBLISHABLE = "publishable"
SDK = "sdk"
NO_ACTION = "-"  # stored for a request that matched no catalogued route
NO_ACTION_LABEL = "(outside the catalog)"  # how reports name it


def action_name(action: str) -> str:
    """An action as reports show it (:data:`NO_ACTION` named)."""
    return NO_ACTION_LABEL if action == NO_ACTION else action


# Reserved labels, stored as they are: a caller's origin is stored normalised (lowercase,
# see policies.origins) and an action is a catalogue name (no spaces), so no caller-sent
# value can be stored as one of these (the gateway's "other" and "none" are not these).
OTHER_ORIGIN = "OTHER"  # the overflow row of a bucket's origins
NO_ORIGIN = "NONE"  # requests without an Origin (or Referer)
OTHER_ACTION = "(other actions)"  # the overflow row of a bucket's actions
MAX_ORIGINS = 20  # distinct origins per key per minute per process (a cheap first cut)
# The hard bounds, per key (subject) per bucket across every process, kept by the flush's
# script (policies.storage.lua_usage): fields past them fold into the overflow rows.
BUCKET_ACTIONS = 200  # (action, outcome) fields
BUCKET_ORIGINS = 100  # (action, origin) fields


def origin_name(origin: str) -> str:
    """An origin as reports show it: the reserved rows named, a caller's text that is not a
    ``scheme://host`` origin quoted (so ``"none"`` sent by a caller is not the no-origin row)."""
    if origin == OTHER_ORIGIN:
        return "(other origins)"
    if origin == NO_ORIGIN:
        return "(no origin)"
    return origin if "://" in origin else f'"{origin}"'


@dataclass(frozen=True, slots=True)
class Grain:
    code: str  # in the Redis key
    seconds: int  # bucket width
    keep: int  # seconds a bucket lives after it ends (its TTL)

    def start(self, t: float) -> int:
        return int(t // self.seconds * self.seconds)

    def starts(self, since: float, until: float) -> list[int]:
        first, last = self.start(since), self.start(until)
        return list(range(first, last + 1, self.seconds))

    def expires(self, start: int) -> int:
        return start + self.seconds + self.keep


MINUTE = Grain("m", 60, 48 * 3600)
HOUR = Grain("h", 3600, 30 * 86400)
DAY = Grain("d", 86400, 400 * 86400)
GRAINS = (MINUTE, HOUR, DAY)


def grain_for(span: float) -> Grain:
    """The finest grain that keeps a chart of ``span`` seconds under ~200 points."""
    if span <= 3 * 3600:
        return MINUTE
    if span <= 8 * 86400:
        return HOUR
    return DAY


def escape(text: str) -> str:
    return text.replace("%", "%25").replace("|", "%7C")


def unescape(text: str) -> str:
    return text.replace("%7C", "|").replace("%25", "%")


def action_field(subject: str, action: str | None, outcome: str) -> str:
    return f"a|{subject}|{escape(action or NO_ACTION)}|{outcome}"


def total_field(subject: str) -> str:
    return f"t|{subject}"


def subject_totals(fields: Mapping[str, int]) -> dict[str, int]:
    """Requests per subject in a flush's fields (each request has one ``a|`` field)."""
    totals: dict[str, int] = {}
    for name, count in fields.items():
        if name.startswith("a|"):
            subject = name.split("|", 2)[1]
            totals[subject] = totals.get(subject, 0) + count
    return totals


def origin_field(subject: str, action: str | None, origin: str) -> str:
    return f"g|{subject}|{escape(action or NO_ACTION)}|{escape(origin)}"


@dataclass
class Report:
    """A subject's (or a workspace's) counts over a range, ready to chart or print."""

    grain: Grain
    starts: list[int]
    outcomes: dict[str, list[int]] = field(default_factory=dict)  # outcome -> per bucket
    actions: dict[str, dict[str, int]] = field(default_factory=dict)  # action -> outcome -> n
    origins: dict[str, int] = field(default_factory=dict)
    partial: bool = False  # a bucket too large to read whole was read in part

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.outcomes.values())

    def totals(self) -> dict[str, int]:
        """Outcome -> requests over the whole range, most first."""
        return _ranked({o: sum(c) for o, c in self.outcomes.items()})

    def top_actions(self, n: int = 10) -> dict[str, int]:
        return _first(n, {a: sum(o.values()) for a, o in self.actions.items()})

    def top_refused(self, n: int = 10) -> dict[str, int]:
        refused = {a: sum(v for k, v in o.items() if k != ALLOWED) for a, o in self.actions.items()}
        return _first(n, {a: c for a, c in refused.items() if c})

    def top_origins(self, n: int = 10) -> dict[str, int]:
        return _first(n, self.origins)


def summarize(
    grain: Grain, buckets: Mapping[int, Mapping[str, int]], subject: str | None = None
) -> Report:
    """Fold raw buckets (start -> field -> count) into a :class:`Report` for ``subject``
    (None: every subject of the workspace)."""
    starts = sorted(buckets)
    report = Report(grain, starts)
    for i, start in enumerate(starts):
        for name, count in buckets[start].items():
            parts = name.split("|")
            if subject is not None and parts[1] != subject:
                continue
            if parts[0] == "a" and len(parts) == 4:
                # One field per (action, outcome): the outcome series are their sums.
                series = report.outcomes.setdefault(parts[3], [0] * len(starts))
                series[i] += count
                by = report.actions.setdefault(unescape(parts[2]), {})
                by[parts[3]] = by.get(parts[3], 0) + count
            elif parts[0] == "g" and len(parts) == 4:
                origin = unescape(parts[3])
                report.origins[origin] = report.origins.get(origin, 0) + count
    return report


@dataclass(frozen=True)
class Impact:
    """What a rule would have refused: allowed requests of the publishable key it covers."""

    rule: Rule
    since: float
    requests: int
    origins: dict[str, int]


def impact(rule: Rule, since: float, buckets: Iterable[Mapping[str, int]]) -> Impact:
    """Requests of the publishable key, allowed, to the action(s) ``rule`` would block."""
    requests = 0
    origins: dict[str, int] = {}
    for bucket in buckets:
        for name, count in bucket.items():
            parts = name.split("|")
            if len(parts) != 4 or parts[1] != PUBLISHABLE or not _covers(rule, parts[2]):
                continue
            if parts[0] == "a" and parts[3] == ALLOWED:
                requests += count
            elif parts[0] == "g":
                origin = unescape(parts[3])
                origins[origin] = origins.get(origin, 0) + count
    return Impact(rule, since, requests, _ranked(origins))


def _covers(rule: Rule, escaped_action: str) -> bool:
    module, _, functionality = unescape(escaped_action).partition(".")
    return module == rule.module and rule.functionality in (WILDCARD, functionality)


def _ranked(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _first(n: int, counts: Mapping[str, int]) -> dict[str, int]:
    return dict(list(_ranked(counts).items())[:n])

"""Usage the gateways counted, for the page's charts and the Blacklist Action modal.

Reads only (:meth:`policies.PolicyStore.usage`, :meth:`~policies.PolicyStore.rule_impact`);
the page draws them with Chart.js (``static/vendor/chartjs``, ``static/keystile/usage.js``).
"""

from __future__ import annotations

from flask import Response, request

from admin_plugin.otp_flow import OtpFlow
from admin_plugin.problems import bad_request, not_found
from admin_plugin.views.base import answer
from policies import PolicyStore
from policies.catalog.rules import Rule
from policies.usage.request_counts import PUBLISHABLE, SDK, action_name, origin_name

RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
IMPACT_SPANS = (("24h", 86400), ("7d", 7 * 86400))
TOP = 8


class UsageActions:
    """Usage reads for the charts and the Blacklist Action modal."""

    def __init__(self, store: PolicyStore, flow: OtpFlow) -> None:
        self.store = store
        self.flow = flow

    def usage(self, ws: str) -> Response:
        """``?key=publishable|sdk|TOKEN_ID&range=1h|24h|7d|30d``: a key's requests over
        time by outcome, its top actions, refused actions and (publishable) origins."""
        key = request.args.get("key", "")
        span = RANGES.get(request.args.get("range", "24h"))
        if span is None:
            raise bad_request(f"range must be one of {', '.join(RANGES)}.")
        if key not in (PUBLISHABLE, SDK) and not self.store.has_token(ws, key):
            raise not_found("There is no such key in this workspace.")
        report = self.store.usage(ws, since=span, subject=key)
        return answer(
            {
                "key": key,
                "grain_seconds": report.grain.seconds,
                "starts": report.starts,
                "outcomes": report.outcomes,
                "total": report.total,
                "partial": report.partial,  # a bucket too large to read whole, read in part
                # Lists of [name, count], most first (a JSON object's order is not kept).
                "top_actions": _named(report.top_actions(TOP)),
                "top_refused": _named(report.top_refused(TOP)),
                "top_origins": _origins(report.top_origins(TOP)),
            }
        )

    def impact(self, ws: str) -> Response:
        """``?module=&functionality=``: what that rule would have refused, 24 h and 7 d."""
        rule = Rule(request.args.get("module", ""), request.args.get("functionality", ""))
        spans = []
        for label, span in IMPACT_SPANS:
            found = self.store.rule_impact(ws, rule, span=span)
            origins = _origins(dict(list(found.origins.items())[:TOP]))
            spans.append({"label": label, "requests": found.requests, "origins": origins})
        return answer({"rule": rule.encode(), "spans": spans})


def _named(counts: dict[str, int]) -> list[tuple[str, int]]:
    return [(action_name(action), n) for action, n in counts.items()]


def _origins(counts: dict[str, int]) -> list[tuple[str, int]]:
    return [(origin_name(origin), n) for origin, n in counts.items()]

"""The demo's first traffic: a few hundred real requests through its gateway at start, so
the Tokens page's usage charts are not empty on first look.

Sent over HTTP to the demo's own API (the gateway counts them as it counts any request)
with the publishable key: browser-like calls from two origins, some to a route outside the
catalog, which the gateway refuses (``route_not_in_catalog``). Nothing is created or
revealed for it, so the audit log stays as it was.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse

ORIGINS = ("https://app.demo.example", "https://shop.demo.example")
# (method, path, origin or None, requests): 300 in all, 20 of them refused.
PLAN = (
    ("GET", "/projects", ORIGINS[0], 120),
    ("GET", "/billing", ORIGINS[0], 50),
    ("GET", "/projects", ORIGINS[1], 60),
    ("POST", "/projects", ORIGINS[0], 30),
    ("GET", "/projects", None, 20),
    ("GET", "/admin/export", ORIGINS[1], 20),  # not in the catalog: refused
)


def send(api: str, key: str) -> int:
    """Send :data:`PLAN` to ``api``; how many requests were answered (stdlib HTTP only: the
    demo installs no client library)."""
    url = urllib.parse.urlsplit(api)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=5)
    answered = 0
    try:
        for method, path, origin, count in PLAN:
            headers = {"Authorization": f"Bearer {key}"}
            if origin is not None:
                headers["Origin"] = origin
            for _ in range(count):
                try:
                    conn.request(method, path, headers=headers)
                    conn.getresponse().read()
                except (OSError, http.client.HTTPException):
                    return answered  # the demo is stopping: nothing to report
                answered += 1
    finally:
        conn.close()
    return answered


def start(api: str, key: str) -> threading.Thread:
    """In the background: the demo's banner and pages do not wait for it."""
    thread = threading.Thread(target=send, args=(api, key), daemon=True, name="demo-traffic")
    thread.start()
    return thread


def total() -> int:
    return sum(count for *_, count in PLAN)

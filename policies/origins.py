"""Browser origins, in one canonical form: what the store keeps and the gateway compares.

``https://App.Example.com:443/`` and ``https://app.example.com`` are one origin. The store
writes origins in this form (:func:`policies.operations.workspaces.clean_origins`) and the
gateway puts the caller's ``Origin`` (or ``Referer``) in it before comparing, with this one
function; stored values from before are normalised again when a key is cached.
"""

from __future__ import annotations


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]``, lowercased, default port and trailing slash dropped."""
    scheme, sep, rest = origin.strip().partition("://")
    if not sep:
        return origin.strip().lower()
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2].lower()
    scheme = scheme.lower()
    if (scheme, host.rpartition(":")[2]) in (("https", "443"), ("http", "80")):
        host = host.rpartition(":")[0]
    return f"{scheme}://{host}"

"""Who may ask the authz service: its trusted proxies (by address) and the holders of
its shared secret.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.types import Scope

from gateway.authz.config import AuthzConfig

_PEER_MEMO = 1024


class TrustedCallers:
    """The check for a caller: the shared secret (when set) and the peer's address in
    ``trusted_proxies`` (when set; the answer memoised per peer)."""

    def __init__(self, config: AuthzConfig) -> None:
        self.networks = config.networks()
        self.secret = None if config.shared_secret is None else config.shared_secret.encode()
        self.secret_header = config.shared_secret_header.encode()
        self._peers: dict[str, bool] = {}

    def trusted(self, scope: Scope) -> bool:
        secret = self.secret
        if secret is not None:
            sent = [v for n, v in scope["headers"] if n == self.secret_header]
            # One value, equal in constant time (compare_digest on bytes of any length).
            if len(sent) != 1 or not hmac.compare_digest(sent[0], secret):
                return False
        if not self.networks:
            return True
        client = scope.get("client")
        if client is None:  # a Unix socket: no address to check
            return False
        peer = client[0]
        known = self._peers.get(peer)
        if known is None:
            try:
                address = ipaddress.ip_address(peer)
            except ValueError:
                return False
            known = any(address in network for network in self.networks)
            if len(self._peers) >= _PEER_MEMO:
                self._peers.clear()
            self._peers[peer] = known
        return known

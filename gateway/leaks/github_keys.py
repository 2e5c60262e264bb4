"""GitHub's secret-scanning public keys: fetched, cached, refreshed on an unknown identifier.

A report names its key (``Github-Public-Key-Identifier``) and carries an ECDSA P-256 /
SHA-256 signature of the raw body (``Github-Public-Key-Signature``, base64 DER). The key set
is fetched once and then when a report names an identifier it lacks, or the set is older
than ``MAX_AGE`` (a key GitHub withdrew stops being trusted), at most once per ``refresh``
seconds, one fetch at a time: a flood of made-up identifiers costs the key server one
request a period, and each of them a 401. A failed fetch keeps the set it had. A fetch
waits at most ``timeout`` for each network step and for the whole answer (a key server
dripping it is cut off).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

logger = logging.getLogger("keystile.leaks")
MAX_KEY_SET = 256 * 1024  # bytes of the key set read at most
MAX_SIGNATURE = 512  # characters of a signature header (a P-256 one is about 96)
MAX_AGE = 3600.0  # seconds a fetched set is trusted before the next report fetches it again

Fetch = Callable[[str], bytes]


class KeysUnavailable(Exception):
    """The key set could not be fetched, and the report's key is not cached."""


class GitHubKeys:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        refresh: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._token = token
        self._refresh = refresh
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._next_fetch = -float("inf")
        self._fetched_at = -float("inf")  # the last successful fetch
        self._failed = False  # the last fetch failed
        self._lock: asyncio.Lock | None = None
        self.fetches = 0  # how many times the key server was asked

    async def verify(self, identifier: str, signature: str, body: bytes) -> bool:
        """Whether ``signature`` is the named key's over ``body``; raises
        :class:`KeysUnavailable` when the key is unknown and the key server failed."""
        key = self._keys.get(identifier)
        if key is None or self._clock() - self._fetched_at > MAX_AGE:
            await self._fetch_once()  # a failure keeps the set it had (GitHub down)
            key = self._keys.get(identifier)
            if key is None:
                if self._failed:
                    raise KeysUnavailable()
                return False
        if len(signature) > MAX_SIGNATURE:
            return False
        try:
            der = base64.b64decode(signature, validate=True)
            key.verify(der, body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    async def _fetch_once(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one fetch at a time; the others wait for its result
            if self._clock() < self._next_fetch:
                return
            self._next_fetch = self._clock() + self._refresh
            self.fetches += 1
            try:
                raw = await asyncio.to_thread(self._download)
                self._keys = parse_key_set(raw)
                self._failed = False
                self._fetched_at = self._clock()
            except (OSError, ValueError) as exc:
                self._failed = True
                logger.warning(
                    "leaks: GitHub's key set could not be fetched from %s: %s",
                    self.url,
                    exc,
                    extra={"event": "leaks.keys_unavailable"},
                )

    def _download(self) -> bytes:
        headers = {"Accept": "application/json", "User-Agent": "keystile-leak-reports"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url, headers=headers)  # noqa: S310 - checked scheme
        deadline = time.monotonic() + self._timeout  # the body's whole read, not each step
        data = bytearray()
        with _OPENER.open(request, timeout=self._timeout) as response:
            while chunk := response.read1(16384):
                data += chunk
                if len(data) > MAX_KEY_SET:
                    raise ValueError(f"the key set is larger than {MAX_KEY_SET} bytes")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the key set took longer than {self._timeout:g} s")
        return bytes(data)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The set comes from the configured URL itself: a redirect (elsewhere, or from https
    down to http) is a failed fetch (HTTPError), not another server's keys."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def parse_key_set(raw: bytes) -> dict[str, ec.EllipticCurvePublicKey]:
    """``{"public_keys": [{"key_identifier", "key" (PEM)}, ...]}`` -> the P-256 keys by
    identifier (others skipped); ValueError when it is not such a document."""
    try:
        document: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError("the key set is not JSON") from None
    entries = document.get("public_keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the key set has no public_keys list")
    keys = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        identifier, pem = entry.get("key_identifier"), entry.get("key")
        if not isinstance(identifier, str) or not isinstance(pem, str):
            continue
        try:
            key = load_pem_public_key(pem.encode())
        except (ValueError, UnsupportedAlgorithm):
            continue
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            keys[identifier] = key
    return keys

"""Digests for lookup, encryption for what an admin may reveal later, and check values.

Keys are found by HMAC-SHA256 under a server secret (a stolen Redis dump alone does not let
anyone confirm a guessed key). The SDK and publishable keys and workspace secrets are also
stored encrypted with Fernet; :class:`cryptography.fernet.MultiFernet` takes a list of master
keys, the first encrypting and all decrypting, so the master key rotates without downtime.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from policies.errors import ConfigError, KeystileError

MIN_DIGEST_SECRET_BYTES = 32
KEY_ID_CHARS = 12
KEY_ID_RE = re.compile(f"[0-9a-f]{{{KEY_ID_CHARS}}}")  # what key_id() makes
BOUND_PREFIX = "ks2:"
_SEPARATOR = b"\x00"


def role_context(ws: str, role: str) -> str:
    """Where a role key's ciphertext belongs: ``ws_…/pk`` or ``ws_…/sk``."""
    return f"{ws}/{role}"


def secret_context(ws: str, name: str) -> str:
    return f"{ws}/secret/{name}"


def _derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret
    )


def _check_value(secret: bytes, purpose: str) -> str:
    return _derive(secret, purpose, 8).hex()


class Keyring:
    def __init__(
        self,
        master_keys: Sequence[str | bytes],
        digest_secret: str | bytes,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(master_keys, str | bytes) or not master_keys:
            raise ConfigError(
                "no master key: set KEYSTILE_MASTER_KEYS to one or more Fernet keys "
                "(comma-separated, newest first); make one with `keystile secrets generate`"
            )
        fernets, checks = [], []
        for position, key in enumerate(master_keys, start=1):
            try:
                fernets.append(Fernet(key))
                checks.append(_check_value(base64.urlsafe_b64decode(key), "keystile master key"))
            except (ValueError, TypeError):
                raise ConfigError(
                    f"master key #{position} is not a Fernet key (32 url-safe base64 bytes)"
                ) from None
        secret = digest_secret.encode() if isinstance(digest_secret, str) else digest_secret
        if len(secret) < MIN_DIGEST_SECRET_BYTES:
            raise ConfigError(
                f"KEYSTILE_DIGEST_SECRET must be at least {MIN_DIGEST_SECRET_BYTES} bytes"
            )
        self._master_keys = tuple(master_keys)
        self._fernets = tuple(fernets)
        self._fernet = MultiFernet(fernets)
        self._digest_secret = secret
        self._mac_key = _derive(secret, "keystile backup mac")
        self._clock = clock
        self.master_key_checks: tuple[str, ...] = tuple(checks)
        """Check values of the master keys, in configured order (the first encrypts)."""
        self.digest_check = _check_value(secret, "keystile digest secret")
        """Check value of the digest secret (stored in Redis, carried by backups)."""

    def with_digest_secret(self, digest_secret: str | bytes) -> Keyring:
        """These master keys with another digest secret (a backup made under it)."""
        return Keyring(self._master_keys, digest_secret, clock=self._clock)

    @staticmethod
    def generate_master_key() -> str:
        return Fernet.generate_key().decode("ascii")

    @staticmethod
    def generate_digest_secret() -> str:
        return secrets.token_urlsafe(48)

    def digest(self, key: str) -> str:
        """The lookup digest of a key: HMAC-SHA256, hex."""
        return hmac.new(self._digest_secret, key.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def key_id(digest: str) -> str:
        """A short public id for a key, safe to log and show (derived from its digest)."""
        return digest[:KEY_ID_CHARS]

    # -- ciphertexts ----------------------------------------------------------------------
    def encrypt(self, plaintext: str, context: str) -> str:
        """Encrypt under the first master key, bound to ``context`` (see the module doc)."""
        if "\x00" in context:
            raise ValueError("an encryption context cannot hold NUL")
        payload = context.encode("utf-8") + _SEPARATOR + plaintext.encode("utf-8")
        token = self._fernet.encrypt_at_time(payload, int(self._clock()))
        return BOUND_PREFIX + token.decode("ascii")

    def decrypt(self, token: str, context: str) -> str:
        """The plaintext, if ``token`` decrypts and belongs to ``context``."""
        bound = token.startswith(BOUND_PREFIX)
        try:
            raw = self._fernet.decrypt(token.removeprefix(BOUND_PREFIX).encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise KeystileError(
                "stored value cannot be decrypted: is the master key it was written with "
                "still in KEYSTILE_MASTER_KEYS?"
            ) from None
        if not bound:  # written before contexts: readable until rewrapped
            return raw.decode("utf-8")
        place, found, value = raw.partition(_SEPARATOR)
        if not found or not hmac.compare_digest(place, context.encode("utf-8")):
            raise KeystileError("stored value belongs to another workspace, key or secret")
        return value.decode("utf-8")

    def key_position(self, token: str) -> int | None:
        """Which configured master key (0 = first) decrypts ``token``; None: none does."""
        data = token.removeprefix(BOUND_PREFIX).encode("ascii", "replace")
        for position, fernet in enumerate(self._fernets):
            try:
                fernet.decrypt(data)
            except InvalidToken:
                continue
            return position
        return None

    def is_current(self, token: str) -> bool:
        """Bound to a context and under the first master key: nothing left to rewrap."""
        return token.startswith(BOUND_PREFIX) and self.key_position(token) == 0

    def rewrap(self, token: str, context: str) -> str:
        """Re-encrypt under the first master key, bound to ``context`` (checked if bound)."""
        return self.encrypt(self.decrypt(token, context), context)

    # -- backups --------------------------------------------------------------------------
    def mac(self, data: bytes) -> str:
        """HMAC-SHA256 under a key derived from the digest secret (backups' integrity)."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()

    def verify_mac(self, data: bytes, mac: str) -> bool:
        return hmac.compare_digest(self.mac(data), mac.encode("ascii", "replace").decode())

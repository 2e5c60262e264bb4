"""Digests for lookup, encryption for what an admin may reveal later.

Keys are found by HMAC-SHA256 under a server secret (a stolen Redis dump alone does not let
anyone confirm a guessed key). The SDK and publishable keys and workspace secrets are also
stored encrypted with Fernet; :class:`cryptography.fernet.MultiFernet` takes a list of master
keys, the first encrypting and all decrypting, so the master key rotates without downtime.
Bad arguments fail here, at construction, never later with a default.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from policies.errors import ConfigError, KeystileError

MIN_DIGEST_SECRET_BYTES = 32
KEY_ID_CHARS = 12


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
        fernets = []
        for position, key in enumerate(master_keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise ConfigError(
                    f"master key #{position} is not a Fernet key (32 url-safe base64 bytes)"
                ) from None
        secret = digest_secret.encode() if isinstance(digest_secret, str) else digest_secret
        if len(secret) < MIN_DIGEST_SECRET_BYTES:
            raise ConfigError(
                f"KEYSTILE_DIGEST_SECRET must be at least {MIN_DIGEST_SECRET_BYTES} bytes"
            )
        self._fernet = MultiFernet(fernets)
        self._digest_secret = secret
        self._clock = clock

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

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt_at_time(plaintext.encode("utf-8"), int(self._clock())).decode(
            "ascii"
        )

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise KeystileError(
                "stored value cannot be decrypted: is the master key it was written with "
                "still in KEYSTILE_MASTER_KEYS?"
            ) from None

    def rewrap(self, token: str) -> str:
        """Re-encrypt under the newest master key (after adding one at the front)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise KeystileError("stored value cannot be decrypted with any master key") from None

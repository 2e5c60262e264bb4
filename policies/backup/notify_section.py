"""A backup's notification settings (:mod:`policies.operations.notify`): the webhook
endpoint, its signing secret as the store keeps it (encrypted under a master key, bound to
the workspace; never the plain secret) and the mail addresses.

A restore checks them as the live operations do: the endpoint with the deployment's own
:class:`~policies.notify.endpoints.EndpointPolicy` (scheme, SSRF; a host name is not
resolved: the worker checks its addresses at each delivery), the addresses with
:func:`~policies.operations.notify.check_emails`, the secret by decrypting it here. The
delivery counters, last outcomes and the queue are runtime state: they stay behind.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from policies.backup.sections import fail
from policies.errors import KeystileError
from policies.keys.crypto import BOUND_PREFIX
from policies.notify import signing
from policies.notify.endpoints import EndpointPolicy, addresses, check_url
from policies.operations.base import Context
from policies.operations.notify import MAX_EMAILS, check_emails, secret_context
from policies.storage import schema

FIELDS = ("url", "secret", "emails")
MAX_SECRET = 1000  # a webhook secret's ciphertext is about 200 characters


def exported(ws: str, stored: list[Any]) -> dict[str, Any] | None:
    """The section of the notify hash's :data:`FIELDS` (None: no settings), or a clear
    refusal of damaged ones (they could not be restored)."""
    url, secret, emails = (None if v is None else schema.text(v) for v in stored)
    try:
        listed = json.loads(emails) if emails is not None else []
    except ValueError:
        listed = None
    if not isinstance(listed, list) or (url is None) != (secret is None):
        raise KeystileError(f"workspace {ws}'s notification settings are damaged: set them again")
    if url is None and not listed:
        return None
    return {"url": url, "secret": secret, "emails": listed}


def restored(ctx: Context, ws: str, section: Any, policy: EndpointPolicy) -> dict[str, str]:
    """The ``notify`` hash fields a restore writes (``{}``: none), or a refusal."""
    if section is None:
        return {}
    if not isinstance(section, dict) or not set(section) <= set(FIELDS):
        raise fail("its notify section is not a workspace's notification settings")
    out = {}
    url, secret = section.get("url"), section.get("secret")
    if (url is None) != (secret is None):
        raise fail("its notify section has a webhook endpoint without a secret, or the reverse")
    if url is not None:
        try:
            parts = check_url(url, policy)
            if _literal(parts.hostname or ""):  # a name is resolved at delivery, not here
                addresses(parts, policy)
        except KeystileError as exc:
            raise fail(f"its webhook endpoint: {exc}") from None
        out["url"] = url.strip()
        out["secret"] = _secret(ctx, ws, secret)
    emails = section.get("emails", [])
    if isinstance(emails, list) and len(emails) > MAX_EMAILS:
        raise fail(f"its notify section lists more than {MAX_EMAILS} mail addresses")
    try:
        cleaned = check_emails(emails)
    except KeystileError as exc:
        raise fail(f"its notification mail addresses: {exc}") from None
    if cleaned:
        out["emails"] = json.dumps(cleaned)
    return out


def _literal(host: str) -> bool:
    """An address (or ``localhost``) checkable without DNS: a restore must not depend on
    the network, and the worker checks every name's addresses when it delivers."""
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host.lower().rstrip(".") == "localhost"
    return True


def _secret(ctx: Context, ws: str, enc: Any) -> str:
    """The ciphertext as it was (re-encrypting is ``keystile secrets rewrap``'s job), once
    it decrypts here, bound to this workspace's endpoint, to a signing secret."""
    if not isinstance(enc, str) or len(enc) > MAX_SECRET or not enc.startswith(BOUND_PREFIX):
        raise fail("its webhook signing secret is not an encrypted value")
    try:
        plain = ctx.keyring.decrypt(enc, secret_context(ws))
    except KeystileError as exc:
        raise fail(f"its webhook signing secret: {exc}") from None
    if not signing.is_secret(plain):
        raise fail("its webhook signing secret does not decrypt to a signing secret")
    return enc

"""Backups: one workspace's policies to a JSON document and back.

Keys stay as they are stored: digests and Fernet ciphertexts, never plain text. A restore
therefore needs the same digest secret and a master key that decrypts them. The catalog
travels along. Restoring refuses a workspace that already exists: nothing is overwritten.
"""

from __future__ import annotations

import json
from typing import Any

from policies import schema
from policies.calls import Batch, Command, Operation
from policies.catalog import Catalog
from policies.errors import KeystileError, UnknownWorkspace
from policies.keyformat import is_workspace_id
from policies.lua import RESTORE
from policies.operations.base import Context, require_workspace, write_call
from policies.rules import decode_all

FORMAT = "keystile-backup/1"
_HASHES = ("keys", "tokens", "lastused", "secrets")


def export_workspace(ctx: Context, ws: str) -> Operation[dict[str, Any]]:
    meta, credentials, rules, tokens, last_used, secrets, catalog = yield Batch(
        (
            Command(("HGETALL", schema.meta(require_workspace(ws)))),
            Command(("HGETALL", schema.credentials(ws))),
            Command(("SMEMBERS", schema.rules(ws))),
            Command(("HGETALL", schema.tokens(ws))),
            Command(("HGETALL", schema.last_used(ws))),
            Command(("HGETALL", schema.secrets(ws))),
            Command(("GET", schema.CATALOG)),
        )
    )
    if not meta:
        raise UnknownWorkspace(ws)

    def texts(mapping: dict[Any, Any]) -> dict[str, str]:
        return {schema.text(k): schema.text(v) for k, v in mapping.items()}

    return {
        "format": FORMAT,
        "workspace_id": ws,
        "meta": texts(meta),
        "keys": texts(credentials),
        "rules": sorted(schema.text(m) for m in rules),
        "tokens": texts(tokens),
        "lastused": texts(last_used),
        "secrets": texts(secrets),
        "catalog": json.loads(schema.text(catalog)) if catalog is not None else None,
    }


def import_workspace(ctx: Context, backup: Any, *, actor: str) -> Operation[str]:
    """Restore a backup made by :func:`export_workspace`; returns the workspace id."""
    if not isinstance(backup, dict) or backup.get("format") != FORMAT:
        raise KeystileError(f"not a Keystile backup (expected format {FORMAT!r})")
    ws = backup.get("workspace_id")
    if not isinstance(ws, str) or not is_workspace_id(ws):
        raise KeystileError("backup has no valid workspace_id")
    parts = [backup.get("meta"), *(backup.get(name) for name in _HASHES)]
    if not all(
        isinstance(p, dict) and all(isinstance(v, str) for v in p.values()) for p in parts
    ) or not isinstance(backup.get("rules"), list):
        raise KeystileError("backup is damaged: a section is missing or has the wrong shape")
    meta, credentials, tokens, last_used, secrets = (dict(p or {}) for p in parts)
    meta.pop("version", None)  # version restarts, then bumps
    decode_all(str(r) for r in backup["rules"])  # everything is validated before any write
    catalog = Catalog.from_dict(backup["catalog"]) if backup.get("catalog") else None
    own = [
        json.dumps(meta),
        json.dumps(credentials),
        json.dumps(backup["rules"]),
        json.dumps(tokens),
        json.dumps(last_used),
        json.dumps(secrets),
    ]
    keys = (
        schema.credentials(ws),
        schema.rules(ws),
        schema.tokens(ws),
        schema.last_used(ws),
        schema.secrets(ws),
    )
    reply = yield write_call(
        ctx, ws, RESTORE, keys, own, actor=actor, action="workspace.restored", detail={}
    )
    if int(reply[0]) == -3:
        raise KeystileError(f"workspace {ws} already exists here; restore into an empty Redis")
    yield Command(("SADD", schema.WORKSPACES, ws))
    if catalog is not None:
        yield Command(("SET", schema.CATALOG, catalog.to_json()))
    return ws

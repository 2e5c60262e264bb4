"""GitHub's partner contract with real signatures: only a verified report changes anything."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.leaks.config import GITLAB_TYPES
from policies import PolicyStore
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.gateway.leaks.conftest import GITLAB_TOKEN, Make
from tests.support.admin import gateway_lookup
from tests.support.clock import ManualClock
from tests.support.leak_reports import KeyServer, Signer, found, github_body

pytestmark = pytest.mark.anyio


async def post(http: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await http.post("/github", content=body, headers=headers)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def leaked(store: PolicyStore, ws: str) -> int:
    return sum(e.action == "key.leaked" for e in store.audit_tail(ws, 100))


async def test_a_signed_batch_is_acted_on_and_answered_with_feedback(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace, signer: Signer
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    unknown = keyformat.generate(KeyKind.TOKEN, ws)
    body = github_body(
        found(token.token),
        found(token.token, "https://github.com/acme/app/blob/def/b.py"),  # a duplicate
        found(workspace.publishable_key),
        found(unknown),
        found(workspace.sdk_key),
    )
    answer = await post(http, body, signer.headers(body))
    assert answer.status_code == 200
    assert answer.json() == [
        {
            "token_hash": sha(token.token),
            "token_type": "keystile_sdk_key",
            "label": "true_positive",
        },
        {
            "token_hash": sha(workspace.publishable_key),
            "token_type": "keystile_sdk_key",
            "label": "false_positive",
        },
        {"token_hash": sha(unknown), "token_type": "keystile_sdk_key", "label": "false_positive"},
        {
            "token_hash": sha(workspace.sdk_key),
            "token_type": "keystile_sdk_key",
            "label": "true_positive",
        },
    ]
    assert gateway_lookup(store, token.token) is None
    assert gateway_lookup(store, workspace.sdk_key) is None  # rolled
    assert gateway_lookup(store, workspace.publishable_key) is not None
    assert leaked(store, ws) == 2
    again = await post(http, body, signer.headers(body))  # GitHub retries: nothing more
    assert again.json() == answer.json()
    assert leaked(store, ws) == 2


@pytest.mark.parametrize(
    "forge",
    [
        "bad signature",
        "other key",
        "re-serialised",
        "no signature",
        "not base64",
        "two identifiers",
    ],
)
async def test_an_unverified_report_changes_nothing(
    http: httpx.AsyncClient,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    signer: Signer,
    forge: str,
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    body = github_body(found(token.token))
    headers = signer.headers(body)
    if forge == "bad signature":
        headers["Github-Public-Key-Signature"] = signer.sign(body + b" ")
    elif forge == "other key":
        headers["Github-Public-Key-Signature"] = Signer("github-key-1").sign(body)
    elif forge == "re-serialised":  # the same JSON, spaced otherwise: another body
        body = json.dumps(json.loads(body), indent=2).encode()
    elif forge == "no signature":
        del headers["Github-Public-Key-Signature"]
    elif forge == "not base64":
        headers["Github-Public-Key-Signature"] = "@@@"
    sent = list(headers.items())
    if forge == "two identifiers":
        sent.append(("Github-Public-Key-Identifier", "github-key-1"))
    answer = await http.post("/github", content=body, headers=sent)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid_signature"
    assert gateway_lookup(store, token.token) is not None
    assert leaked(store, ws) == 0


async def test_an_unknown_identifier_refreshes_once_then_is_refused(
    http: httpx.AsyncClient,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    signer: Signer,
    keys: KeyServer,
    refresh_clock: ManualClock,
) -> None:
    body = github_body(found(workspace.sdk_key))
    assert (await post(http, body, signer.headers(body))).status_code == 200
    assert keys.requests == 1  # the first report fetched the set
    refresh_clock.advance(61)
    stranger = Signer("not-githubs")
    for _ in range(20):  # a flood of unknown identifiers: one more fetch, then none
        answer = await post(http, body, stranger.headers(body))
        assert answer.status_code == 401
    assert keys.requests == 2
    refresh_clock.advance(61)
    assert (await post(http, body, stranger.headers(body))).status_code == 401
    assert keys.requests == 3


async def test_a_new_github_key_is_picked_up(
    http: httpx.AsyncClient,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    signer: Signer,
    keys: KeyServer,
    refresh_clock: ManualClock,
) -> None:
    token = store.create_token(workspace.workspace_id, "ci", actor="test")
    body = github_body(found(token.token))
    assert (await post(http, body, signer.headers(body))).status_code == 200
    rotated = Signer("github-key-2")
    keys.signers.append(rotated)  # GitHub published a new key
    refresh_clock.advance(61)
    body = github_body(found(workspace.sdk_key))
    answer = await post(http, body, rotated.headers(body))
    assert answer.status_code == 200 and answer.json()[0]["label"] == "true_positive"
    assert keys.requests == 2


async def test_a_key_server_that_is_down_is_a_503_to_retry(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace, signer: Signer,
    keys: KeyServer,
) -> None:  # fmt: skip
    keys.down = True
    body = github_body(found(workspace.sdk_key))
    answer = await post(http, body, signer.headers(body))
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert gateway_lookup(store, workspace.sdk_key) is not None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b'{"token": "x"}', 400),  # not an array
        (b"[1, 2]", 400),
        (b'[{"token": 5, "type": "t"}]', 400),
        (b'[{"token": "x", "type": ["t"]}]', 400),
        (b'[{"token": "x", "type": "t", "url": {}}]', 400),
        (b'[{"type": "t"}]', 400),
        (b'[{"token": "\\ud800", "type": "t"}]', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
    ],
)
async def test_hostile_bodies_are_problems(
    http: httpx.AsyncClient, signer: Signer, body: bytes, status: int
) -> None:
    answer = await post(http, body, signer.headers(body))
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_batch_past_the_bound_is_refused_whole(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace, signer: Signer
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    items = [found(token.token)] + [{"token": f"j{i}", "type": "t"} for i in range(9_999)]
    body = github_body(*items)  # 10,000 items, under the byte bound
    answer = await post(http, body, signer.headers(body))
    assert answer.status_code == 413 and answer.json()["code"] == "report_too_large"
    assert "1000" in answer.json()["detail"]
    assert gateway_lookup(store, token.token) is not None
    huge = github_body(found("x" * 900), *([found("y" * 900)] * 2000))  # past max_body_bytes
    answer = await post(http, huge, signer.headers(huge))
    assert answer.status_code == 413


async def test_the_bounds_are_configurable(
    make_leaks: object, store: PolicyStore, workspace: CreatedWorkspace, signer: Signer
) -> None:
    app = make_leaks(max_items=2)  # type: ignore[operator]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = github_body(*[found(workspace.sdk_key)] * 3)
        assert (await post(client, body, signer.headers(body))).status_code == 413
        body = github_body(*[found(workspace.sdk_key)] * 2)
        assert (await post(client, body, signer.headers(body))).status_code == 200


def _der_forms(signer: Signer, body: bytes) -> list[str]:
    """Signature headers that carry the right (r, s) in a wrong encoding, or nothing."""
    der = base64.b64decode(signer.sign(body))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    # The same integers with a needless leading zero: BER, not DER.
    r_bytes = b"\x00" + r.to_bytes(33, "big").lstrip(b"\x00").rjust(33, b"\x00")
    s_bytes = s.to_bytes(33, "big").lstrip(b"\x00")
    if s_bytes[0] & 0x80:
        s_bytes = b"\x00" + s_bytes
    inner = b"\x02" + bytes([len(r_bytes)]) + r_bytes + b"\x02" + bytes([len(s_bytes)]) + s_bytes
    padded = b"\x30" + bytes([len(inner)]) + inner
    return [
        base64.b64encode(der + b"\x00").decode(),  # trailing bytes
        base64.b64encode(raw).decode(),  # r || s, not DER
        base64.b64encode(padded).decode(),
        base64.b64encode(b"").decode(),
        " ",
        base64.urlsafe_b64encode(der).decode().replace("=", ""),
        "A" * 10_000,
    ]


async def test_signature_encodings_other_than_der_are_refused(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace, signer: Signer
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    body = github_body(found(token.token))
    for signature in _der_forms(signer, body):
        headers = {**signer.headers(body), "Github-Public-Key-Signature": signature}
        answer = await post(http, body, headers)
        assert answer.status_code == 401, signature
        assert answer.headers["content-type"] == "application/problem+json"
    assert gateway_lookup(store, token.token) is not None and leaked(store, ws) == 0


async def test_the_same_report_at_once_is_acted_on_once(
    make_leaks: Make, store: PolicyStore, workspace: CreatedWorkspace, signer: Signer
) -> None:
    """GitHub's retry racing its first try (and a GitLab report of the same key): one roll,
    one revocation, one ``key.leaked`` each; a request that found a key still being handled
    is told to try again (503), and its retry is answered as the first was."""
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    body = github_body(found(token.token), found(workspace.sdk_key))
    gitlab = json.dumps(
        [{"type": GITLAB_TYPES[0], "token": workspace.sdk_key, "location": "https://gl/x"}]
    ).encode()
    apps = [make_leaks() for _ in range(3)]  # three processes' endpoints, one store
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        for app in apps
    ]
    bearer = {"Authorization": f"Bearer {GITLAB_TOKEN}"}

    def send(client: httpx.AsyncClient, github: bool) -> Awaitable[httpx.Response]:
        if github:
            return post(client, body, signer.headers(body))
        return client.post("/gitlab/v1/revoke_tokens", content=gitlab, headers=bearer)

    sends = [(c, True) for c in clients for _ in range(3)] + [(c, False) for c in clients]
    try:
        answers = await asyncio.gather(*(send(c, github) for c, github in sends))
        assert {a.status_code for a in answers} <= {200, 204, 503}
        assert all(
            a.headers["content-type"] == "application/problem+json"
            for a in answers
            if a.status_code == 503
        )
        retried = [await send(c, github) for (c, github), a in zip(sends, answers, strict=True)]
    finally:
        for client in clients:
            await client.aclose()
    assert [a.status_code for a in retried] == [200] * 9 + [204] * 3
    done = [a.json() for a in answers[:9] if a.status_code == 200]
    assert all(feedback == retried[0].json() for feedback in done)
    actions = [e.action for e in store.audit_tail(ws, 100)]
    assert actions.count("key.leaked") == 2
    assert actions.count("sdk_key.rolled") == 1 and actions.count("token.revoked") == 1
    assert gateway_lookup(store, token.token) is None
    assert gateway_lookup(store, workspace.sdk_key) is None


async def test_a_key_github_withdrew_stops_being_trusted(
    http: httpx.AsyncClient,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    signer: Signer,
    keys: KeyServer,
    refresh_clock: ManualClock,
) -> None:
    """A key GitHub takes out of its set (rotated, or compromised) is dropped at the next
    fetch, which comes within an hour even when every report names a known key."""
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    body = github_body(found(workspace.publishable_key))
    assert (await post(http, body, signer.headers(body))).status_code == 200
    keys.signers[:] = [Signer("github-key-2")]  # the old key withdrawn
    refresh_clock.advance(3601)
    body = github_body(found(token.token))
    answer = await post(http, body, signer.headers(body))
    assert answer.status_code == 401 and keys.requests == 2
    assert gateway_lookup(store, token.token) is not None and leaked(store, ws) == 0


async def test_a_report_still_being_handled_elsewhere_is_not_answered_done(
    http: httpx.AsyncClient,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    signer: Signer,
    clock: ManualClock,
) -> None:
    """GitHub's retry after a 503 (or a duplicate racing the first) finds the key claimed
    but not acted on: a 503 to retry, not a 200 "done" GitHub would never send again."""
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    digest = store.ctx.keyring.digest(token.token)
    store.client.hset(schema.leaks(ws), digest, f"{clock()!r} pending")  # a process died
    body = github_body(found(token.token), found(workspace.publishable_key))
    answer = await post(http, body, signer.headers(body))
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert answer.headers["content-type"] == "application/problem+json"
    assert gateway_lookup(store, token.token) is not None
    clock.advance(61)  # the dead process's claim is stale: taken over
    answer = await post(http, body, signer.headers(body))
    assert answer.status_code == 200 and answer.json()[0]["label"] == "true_positive"
    assert gateway_lookup(store, token.token) is None and leaked(store, ws) == 1

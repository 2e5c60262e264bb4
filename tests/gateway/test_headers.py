"""Raw header bytes no HTTP client would send, and the decision rules they feed."""

from __future__ import annotations

import pytest

from gateway import KeyGateMiddleware
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope


async def status_and_code(
    gate: KeyGateMiddleware, *headers: tuple[bytes, bytes]
) -> tuple[int, str]:
    answer = await call(gate, http_scope(headers=list(headers)))
    code = answer.json()["code"] if answer.status >= 400 else ""
    return answer.status, code


@pytest.mark.anyio
async def test_odd_header_bytes(gate: KeyGateMiddleware, workspace: CreatedWorkspace) -> None:
    key = workspace.sdk_key.encode()
    invalid = (401, "invalid_key")
    assert await status_and_code(gate, (b"authorization", b"Bearer " + b"k" * 65_536)) == invalid
    assert await status_and_code(gate, (b"x-api-key", b"\xff\xfe" * 26 + b"\x00")) == invalid
    assert await status_and_code(gate, (b"authorization", b"Bearer")) == invalid
    assert await status_and_code(gate, (b"authorization", b"Bearer   ")) == invalid
    assert await status_and_code(gate, (b"authorization", b"bearer " + key)) == (200, "")
    assert await status_and_code(gate, (b"authorization", b"BEARER    " + key + b" ")) == (200, "")
    # Several key headers: the same key twice is one key; two different keys are refused.
    twice = (b"authorization", b"Bearer " + key)
    assert await status_and_code(gate, twice, twice) == (200, "")
    other = (b"authorization", b"Bearer " + workspace.publishable_key.encode())
    assert await status_and_code(gate, twice, other) == invalid
    assert await status_and_code(gate, (b"x-api-key", key), (b"x-api-key", b"junk")) == invalid
    # A non-Bearer Authorization next to X-API-Key: the key is X-API-Key's.
    basic = (b"authorization", b"Basic dXNlcjpwYXNz")
    assert await status_and_code(gate, basic, (b"x-api-key", key)) == (200, "")
    assert await status_and_code(gate, basic) == (401, "missing_key")

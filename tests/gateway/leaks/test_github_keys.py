"""GitHub's key set: what counts as a key, one fetch for many waiting reports, failures."""

from __future__ import annotations

import asyncio
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.leaks.github_keys import MAX_KEY_SET, GitHubKeys, KeysUnavailable, parse_key_set
from tests.support.clock import ManualClock
from tests.support.leak_reports import KeyServer, Signer


def pem(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_only_p256_keys_are_kept() -> None:
    p256 = Signer("a")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    document = {
        "public_keys": [
            {"key_identifier": "a", "key": p256.pem()},
            {"key_identifier": "b", "key": pem(p384)},
            {"key_identifier": "c", "key": pem(rsa_key)},
            {"key_identifier": "d", "key": "not a key"},
            {"key_identifier": 5, "key": p256.pem()},
            "junk",
        ]
    }
    assert set(parse_key_set(json.dumps(document).encode())) == {"a"}
    for bad in (b"nope", b"[]", b'{"public_keys": {}}'):
        with pytest.raises(ValueError):
            parse_key_set(bad)


@pytest.mark.anyio
async def test_many_reports_naming_unknown_keys_wait_for_one_fetch(keys: KeyServer) -> None:
    github = GitHubKeys(keys.url, clock=ManualClock())
    stranger = Signer("nobody")
    body = b"[]"
    results = await asyncio.gather(
        *(github.verify(f"unknown-{i}", stranger.sign(body), body) for i in range(50))
    )
    assert results == [False] * 50 and keys.requests == 1 == github.fetches


@pytest.mark.anyio
async def test_a_failed_fetch_is_unavailable_not_invalid(keys: KeyServer, signer: Signer) -> None:
    clock = ManualClock()
    github = GitHubKeys(keys.url, clock=clock)
    keys.down = True
    with pytest.raises(KeysUnavailable):
        await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    keys.down = False
    with pytest.raises(KeysUnavailable):  # within the refresh period: not asked again
        await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    clock.advance(60)
    assert await github.verify(signer.identifier, signer.sign(b"x"), b"x")
    assert keys.requests == 2


@pytest.mark.anyio
async def test_an_oversized_key_set_is_refused(keys: KeyServer) -> None:
    keys.signers.extend(Signer(f"k{i}" + "x" * 1000) for i in range(MAX_KEY_SET // 1000))
    github = GitHubKeys(keys.url, clock=ManualClock())
    with pytest.raises(KeysUnavailable):
        await github.verify("k0", "c2ln", b"x")

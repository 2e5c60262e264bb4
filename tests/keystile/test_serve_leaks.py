"""``keystile serve`` with ``[leaks] enabled``: a signed GitHub report reaches the endpoint
it mounts, and the running gateway refuses the leaked key within its stated bound (under
1 s while Redis answers: the roll's event evicts it at once, the version check otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from keystile.redis_server import free_port
from policies import PolicyStore
from tests.keystile.test_serve import ROOT, wait_until_serving
from tests.support.leak_reports import Signer, found, github_body, key_server

pytestmark = pytest.mark.slow
BOUND = 1.0  # README: "worst case while Redis is reachable: under 1 s"


def test_a_leaked_key_is_refused_by_the_running_gateway(
    redis_url: str, master_key: str, digest_secret: str, store: PolicyStore, tmp_path: Path
) -> None:
    signer = Signer("github-key-1")
    created = store.create_workspace("Acme", actor="t")
    ws = created.workspace_id
    token = store.create_token(ws, "ci", actor="t")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with key_server(signer) as keys:
        config = tmp_path / "keystile.toml"
        config.write_text(
            '[gateway]\nexempt_paths = ["/health"]\n'
            f'[leaks]\nenabled = true\ngithub_keys_url = "{keys.url}"\n'
        )
        env = {
            **os.environ,
            "KEYSTILE_REDIS_URL": redis_url,
            "KEYSTILE_MASTER_KEYS": master_key,
            "KEYSTILE_DIGEST_SECRET": digest_secret,
        }
        command = [sys.executable, "-m", "keystile", "--config", str(config), "serve"]
        process = subprocess.Popen(
            [*command, "keystile.sample_api:app", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until_serving(f"{base}/health", process)
            with httpx.Client(base_url=base) as http:
                for key in (created.sdk_key, token.token):  # both cached by the gateway now
                    assert http.get("/billing", headers=bearer(key)).status_code == 200
                body = github_body(found(created.sdk_key))
                answer = http.post(
                    "/keystile/leaks/github", content=body, headers=signer.headers(body)
                )
                answered = time.monotonic()
                assert answer.status_code == 200, answer.text
                assert answer.json()[0]["label"] == "true_positive"
                while http.get("/billing", headers=bearer(created.sdk_key)).status_code != 401:
                    assert time.monotonic() - answered < BOUND, "still served past the bound"
                assert http.get("/billing", headers=bearer(token.token)).status_code == 200
                unsigned = http.post("/keystile/leaks/github", content=body)
                assert unsigned.status_code == 401  # no key needed, but a signature is
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0]
    assert "leak reports: /keystile/leaks/github" in output
    assert created.sdk_key[3:] not in output  # never logged
    new = store.reveal_sdk_key(ws, actor="t")
    assert new != created.sdk_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}

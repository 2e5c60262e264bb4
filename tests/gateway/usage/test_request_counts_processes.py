"""Usage counts from two gateway processes under uvicorn add up exactly, by stop flushes."""

from __future__ import annotations

import httpx
import pytest
import redis

from policies import PolicyStore, Rule
from policies.keys.crypto import Keyring
from tests.support.uvicorn_gateways import run_gateways

pytestmark = pytest.mark.slow


def test_two_processes_counts_equal_the_requests_sent_and_stopping_flushes(
    redis_url: str,
    master_key: str,
    digest_secret: str,
    store: PolicyStore,
    redis_client: redis.Redis,
) -> None:
    # The processes count on the wall clock: read with one too (the suite's store's is fixed).
    real = PolicyStore(redis_client, Keyring([master_key], digest_secret))
    workspace = real.create_workspace("Acme", actor="test")
    ws = workspace.workspace_id
    real.add_rule(ws, Rule("members", "invite"), actor="test")
    pk = {"Authorization": f"Bearer {workspace.publishable_key}"}
    sent = {"allowed": 0, "action_blocked": 0}
    # No periodic flush for the test's life: only the flush on stop can write the counts.
    with run_gateways(2, redis_url, master_key, digest_secret, {"touch_interval": 3600}) as bases:
        with httpx.Client(timeout=15) as http:
            for n, base in enumerate(bases):
                for _ in range(5 + n):
                    answer = http.get(
                        f"{base}/projects", headers={**pk, "Origin": f"https://a{n}.example"}
                    )
                    assert answer.status_code == 200
                    sent["allowed"] += 1
                for _ in range(2 + n):
                    assert http.post(f"{base}/members", headers=pk).status_code == 403
                    sent["action_blocked"] += 1
        assert real.usage(ws, since=3600).total == 0  # nothing flushed yet
    report = real.usage(ws, since=3600, subject="publishable")
    assert report.totals() == {"allowed": 11, "action_blocked": 5} == sent
    assert report.actions == {
        "projects.list": {"allowed": 11},
        "members.invite": {"action_blocked": 5},
    }
    assert report.origins == {"https://a0.example": 5, "https://a1.example": 6}

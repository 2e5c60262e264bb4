"""50 admin operations at once on one workspace, while the gateway keeps reading it.

Every write is one atomic script that bumps the version and appends its audit entry (with
that version), so the audit replays the exact sequence of states. Each policy the gateway
read mid-storm must be one of those states -- its rules exactly those of its version --
and the final state must be what the last entry says. Runs on the cluster too, where the
workspace's hash tag keeps all of it in one slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from gateway import KeyGateMiddleware
from policies import InvalidKey, PolicyStore, Rule
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope

pytestmark = pytest.mark.anyio

RULES = [Rule("projects", "list"), Rule("projects", "create"), Rule("billing", "read")]
OPERATIONS = 50
LOG = logging.getLogger(__name__)


def operate(store: PolicyStore, ws: str, n: int) -> str | None:
    """Operation ``n`` of the storm: a rotation, a rule added or lifted, a token."""
    match n % 5:
        case 0:
            return store.rotate_publishable_key(ws, actor=f"admin{n}")
        case 1 | 3:
            store.add_rule(ws, RULES[n % len(RULES)], actor=f"admin{n}")
        case 2:
            store.remove_rule(ws, RULES[(n * 2) % len(RULES)], actor=f"admin{n}")
        case _:
            store.create_token(ws, f"t{n}", actor=f"admin{n}")
    return None


def replay(client: redis.Redis, ws: str) -> tuple[dict[int, frozenset[Rule]], list[str]]:
    """The blacklist at every version, and who wrote, from the audit (one entry a write)."""
    rules: set[Rule] = set()
    states: dict[int, frozenset[Rule]] = {}
    actors = []
    for _, fields in client.xrange(schema.audit(ws)):
        actors.append(fields["actor"])
        detail = json.loads(fields.get("detail", "{}"))
        if fields["action"] == "rule.added":
            rules.add(Rule.decode(detail["rule"]))
        elif fields["action"] == "rule.removed":
            rules.discard(Rule.decode(detail["rule"]))
        version = int(fields["version"])
        assert version not in states, "two writes produced the same version"
        states[version] = frozenset(rules)
    return states, actors


async def test_fifty_concurrent_admin_operations(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
) -> None:
    ws = workspace.workspace_id
    reader = gate.runtime.reader
    assert reader is not None
    reads: list[tuple[int, frozenset[Rule]]] = []
    statuses: list[int] = []
    done = asyncio.Event()
    # Ten threads race each other; each operation also waits for the gateway to have read
    # a little, so the reads are spread over the storm instead of all before or after it.
    progress = threading.Condition()

    async def gateway_reads() -> None:  # what the gateway sees while the storm goes on
        scope = http_scope("/projects", "GET", [(b"x-api-key", workspace.sdk_key.encode())])
        while not done.is_set():
            policy = await reader.lookup(workspace.sdk_key)
            reads.append((policy.version, policy.rules))
            statuses.append((await call(gate, scope)).status)
            with progress:
                progress.notify_all()

    def paced(n: int) -> str | None:
        with progress:
            assert progress.wait_for(lambda: len(reads) >= n // 5, timeout=30)
        return operate(store, ws, n)

    def storm() -> list[str | None]:
        with ThreadPoolExecutor(max_workers=10) as pool:
            return list(pool.map(paced, range(OPERATIONS)))

    watcher = asyncio.create_task(gateway_reads())
    try:
        issued = await asyncio.to_thread(storm)
    finally:
        done.set()
        await watcher

    states, actors = replay(redis_client, ws)
    final = store.workspace(ws).version
    # Each write has its own version, from the workspace's creation (1) to the last.
    assert sorted(states) == list(range(1, final + 1))
    # Rotations and tokens always write; a rule edit that changes nothing writes nothing.
    assert len(actors) == len(set(actors)) == final
    assert {f"admin{n}" for n in range(0, OPERATIONS, 5)} <= set(actors)
    assert {f"admin{n}" for n in range(4, OPERATIONS, 5)} <= set(actors)
    assert set(store.list_rules(ws)) == states[final]
    # Every read mid-storm was one of those states, exactly; and reads never went back.
    assert len(reads) >= OPERATIONS // 5
    for version, rules in reads:
        assert rules == states[version], (version, rules, states[version])
    versions = [version for version, _ in reads]
    assert versions == sorted(versions)
    LOG.info("%d gateway reads saw %d of %d versions", len(reads), len(set(versions)), final)
    assert set(statuses) == {200}  # the SDK key is never blocked, never failed

    # One publishable key survives the ten rotations: the last one the store reports.
    rotated = [key for key in issued if key is not None]
    current = store.publishable_key(ws)
    assert current in rotated and len(rotated) == OPERATIONS // 5
    for key in [workspace.publishable_key, *rotated]:
        if key != current:
            with pytest.raises(InvalidKey):
                await reader.lookup(key)
    assert len(store.list_tokens(ws)) == OPERATIONS // 5

    # And the gateway enforces the final state.
    assert await gate.invalidation.wait_version(ws, final, 10)
    for rule in RULES:
        path = "/billing" if rule.module == "billing" else "/projects"
        method = "GET" if rule.functionality in ("list", "read") else "POST"
        scope = http_scope(path, method, [(b"x-api-key", current.encode())])
        expected = 403 if rule in states[final] else 200
        assert (await call(gate, scope)).status == expected, rule

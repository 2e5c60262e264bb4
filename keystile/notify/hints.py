"""Which workspaces just changed, from the store's events channel: the worker looks at their
queues at once, whatever step queued a notice (its own index write may come later, or be
lost in a crash; the periodic sweep stays the backstop).

Every policy change publishes ``"<workspace> <version>"`` (:mod:`policies.storage.lua`);
a hint costs the worker one claim call for that workspace. Pub/sub is not durable: a hint
missed while disconnected only waits for the index or the sweep.
"""

from __future__ import annotations

import logging
import threading

import redis

from policies.keys.keyformat import is_workspace_id
from policies.storage import schema

log = logging.getLogger("keystile.notify")
RECONNECT_SECONDS = 1.0
MAX_PENDING = 10_000  # hints kept between two turns (beyond: the index and sweep serve)


class Hints:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.wake = threading.Event()  # set when a hint arrives
        self.subscribed = threading.Event()  # set while subscribed
        self._lock = threading.Lock()
        self._pending: set[str] = set()

    def take(self) -> set[str]:
        with self._lock:
            pending, self._pending = self._pending, set()
        self.wake.clear()
        return pending

    def listen(self, stop: threading.Event) -> None:
        """Until ``stop``: subscribe, collect, resubscribe after a connection is lost."""
        while not stop.is_set():
            # redis 5.0.1 (the floor) leaves the sync pubsub() untyped
            pubsub = self.client.pubsub(  # type: ignore[no-untyped-call,unused-ignore]
                ignore_subscribe_messages=True
            )
            try:
                pubsub.subscribe(schema.EVENTS_CHANNEL)
                pubsub.get_message(timeout=5)  # the confirmation: hints flow from here
                self.subscribed.set()
                while not stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self._add(schema.text(message["data"]).partition(" ")[0])
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
                log.info(
                    "notifications: events channel lost (%s); resubscribing", type(exc).__name__
                )
                stop.wait(RECONNECT_SECONDS)
            finally:
                self.subscribed.clear()
                pubsub.close()

    def _add(self, ws: str) -> None:
        if not is_workspace_id(ws):  # the catalog's own events, say
            return
        with self._lock:
            if len(self._pending) < MAX_PENDING:
                self._pending.add(ws)
        self.wake.set()

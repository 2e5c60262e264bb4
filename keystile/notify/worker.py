"""The delivery worker: takes due deliveries from each workspace's queue, sends them, and
records each outcome (retried with exponential back-off and jitter, then a dead letter).

At least once: a delivery is leased while it is tried, so a worker that dies leaves it to
another (or itself, restarted) once the lease ends; every try of an event carries the same
``webhook-id``, which receivers dedupe on. Several workers may run: a lease is taken in
one atomic step. The same loop looks for tokens about to expire (once an hour) and
re-indexes every queue now and then (a crash between a step and its index write).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime

from admin_plugin.mailer import Mailer
from keystile.notify.config import NotifyOptions
from keystile.notify.hints import Hints
from policies import PolicyStore
from policies.errors import KeystileError, StoreUnavailable
from policies.notify import events, webhooks
from policies.notify.webhooks import Outcome
from policies.operations import notify_queue as queue
from policies.operations.notify import secret_context
from policies.operations.notify_marks import note_expiring

log = logging.getLogger("keystile.notify")
WORKSPACES_PER_TICK = 50


def mail_text(ws: str, stored: str) -> tuple[str, str]:
    """(subject, body) of an event's mail: what happened, where, the ids; no key material."""
    event = events.parse(stored)
    msg_id = event["id"]
    kind = str(event.get("type", ""))
    summary = events.SUMMARIES.get(kind, kind)
    lines = [f"In the Keystile workspace {ws}, {summary}.", ""]
    for name, value in sorted(event.get("data", {}).items()):
        lines.append(f"  {name}: {value}")
    lines += ["", f"Event {kind} at {event.get('timestamp', '')} (id {msg_id})."]
    return f"Keystile security notice: {summary}", "\n".join(lines) + "\n"


class NotifyWorker:
    def __init__(
        self, store: PolicyStore, options: NotifyOptions, mailer: Mailer | None = None
    ) -> None:
        self.store = store
        self.options = options
        self.policy = options.endpoints
        self.mailer = mailer
        self.clock = store.ctx.clock
        self.next_sweep = self.next_scan = 0.0
        self.hints = Hints(store.client)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set; Redis being away is waited out."""
        listener = threading.Thread(target=self.hints.listen, args=(stop,), daemon=True)
        listener.start()
        while not stop.is_set():
            try:
                busy = self.tick()
            except StoreUnavailable as exc:
                log.warning("notifications: the key store is unavailable (%s); retrying", exc)
                busy = 0
            if not busy:
                self.hints.wake.wait(self.options.poll)
        listener.join(5)

    def tick(self) -> int:
        """One turn: the periodic scans when due, then every workspace with deliveries due.
        How many deliveries were tried."""
        now = self.clock()
        if now >= self.next_sweep:
            self.store.run(queue.sweep(self.store.ctx))
            self.next_sweep = now + self.options.sweep_interval
        if now >= self.next_scan:
            self.store.run(note_expiring(self.store.ctx))
            self.next_scan = now + self.options.scan_interval
        tried = 0
        due = self.store.run(queue.due_workspaces(self.store.ctx, WORKSPACES_PER_TICK))
        for ws in dict.fromkeys([*due, *sorted(self.hints.take())]):
            try:
                tried += self.deliver(ws)
            except StoreUnavailable:
                raise
            except Exception as exc:  # one workspace's damaged queue: not every workspace's
                self.set_aside(ws, exc)
        return tried

    def set_aside(self, ws: str, exc: Exception) -> None:
        """Log a workspace whose queue cannot be read (no value of it: the type of what
        failed) and look again a lease later, or at its next write's hint."""
        wait = self.options.lease
        log.error(
            "notifications: workspace %s's queue is damaged (%s); tried again in %g s",
            ws,
            type(exc).__name__,
            wait,
            extra={"event": "notify.damaged", "workspace_id": ws},
        )
        self.store.run(queue.set_aside(self.store.ctx, ws, self.clock() + wait))

    def deliver(self, ws: str) -> int:
        ctx = self.store.ctx
        lease = self.clock() + self.options.lease + random.random() / 1000
        claimed = self.store.run(queue.claim(ctx, ws, lease, self.options.batch))
        longest = webhooks.STEPS * self.options.timeout  # one delivery's bound
        held: float | None = None  # the endpoint failed: its other events wait with that one
        for delivery in claimed.deliveries:
            webhook = delivery.channel == "webhook"
            if self.clock() + longest >= lease or (webhook and held is not None):
                # Given back untried: a slow endpoint's rest, or a failing one's (a hanging
                # endpoint costs the worker one timeout per turn, not one per event).
                again = self.clock() if held is None or not webhook else held
                self.store.run(
                    queue.finish(
                        ctx, ws, delivery, lease, outcome="release", status="", next_at=again
                    )
                )
                continue
            try:
                events.parse(delivery.event)
            except events.MalformedEvent as exc:  # never sent nor retried: a dead letter
                dead = queue.finish(
                    ctx, ws, delivery, lease, outcome="dead", status="failed", error=str(exc)
                )
                self.store.run(dead)
                continue
            outcome = self.attempt(ws, claimed, delivery)
            retry_at = self.settle(ws, delivery, lease, outcome)
            if webhook and not outcome.ok:
                held = self.clock() if retry_at is None else retry_at
        self.store.run(queue.reschedule(ctx, ws))
        return len(claimed.deliveries)

    def attempt(self, ws: str, claimed: queue.Claimed, delivery: queue.Delivery) -> Outcome:
        if delivery.channel == "webhook":
            if not claimed.url or not claimed.secret_enc:
                return Outcome(None, "no webhook endpoint is set")
            try:
                secret = self.store.ctx.keyring.decrypt(claimed.secret_enc, secret_context(ws))
            except KeystileError as exc:
                return Outcome(None, str(exc))
            return webhooks.post(claimed.url, secret, delivery.event, self.policy)
        if self.mailer is None:
            return Outcome(None, "no mail server is configured ([smtp])")
        if not claimed.emails:
            return Outcome(None, "no mail address is set")
        subject, body = mail_text(ws, delivery.event)
        try:
            for address in claimed.emails:
                self.mailer.send(address, subject, body)
        except Exception as exc:  # any mailer's failure; its text only when it is ours
            said = str(exc).removeprefix("The code could not be sent: ").rstrip(".")
            return Outcome(
                None, f"mail not sent: {said}" if isinstance(exc, KeystileError) else "mail failed"
            )
        return Outcome(250)

    def settle(
        self, ws: str, delivery: queue.Delivery, lease: float, outcome: Outcome
    ) -> float | None:
        """Record the outcome; when the delivery is tried again (None: done or dead)."""
        ctx = self.store.ctx
        status = "ok" if outcome.ok else (str(outcome.status) if outcome.status else "failed")
        if outcome.ok:
            self.store.run(queue.finish(ctx, ws, delivery, lease, outcome="ok", status=status))
            return None
        tries = delivery.tries + 1
        age = self.clock() - _timestamp(delivery.event)
        error = outcome.describe()
        log.info(
            "notification %s to workspace %s failed (try %d): %s",
            delivery.channel,
            ws,
            tries,
            error,
            extra={"event": "notify.failed", "workspace_id": ws, "channel": delivery.channel},
        )
        if tries >= self.options.max_attempts or age >= self.options.max_age:
            self.store.run(
                queue.finish(ctx, ws, delivery, lease, outcome="dead", status=status, error=error)
            )
            return None
        next_at = self.clock() + self.backoff(tries)
        self.store.run(
            queue.finish(
                ctx,
                ws,
                delivery,
                lease,
                outcome="retry",
                status=status,
                error=error,
                next_at=next_at,
            )
        )
        return next_at

    def backoff(self, tries: int) -> float:
        """Exponential, capped, with equal jitter: half fixed, half random."""
        delay = min(self.options.retry_cap, self.options.retry_base * 2.0 ** (tries - 1))
        return delay / 2 + random.random() * delay / 2


def _timestamp(stored: str) -> float:
    try:
        text = events.parse(stored)["timestamp"]
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:  # MalformedEvent too
        return 0.0

"""A real local webhook receiver: an HTTP server in a thread that checks every delivery's
Standard Webhooks signature with the ``standardwebhooks`` package, and can go down and come
back on the same port."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from keystile.redis_server import free_port


@dataclass(frozen=True)
class Delivery:
    msg_id: str
    event: dict[str, Any]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.secret = ""
        self.status = 200  # what it answers a verified delivery
        self.deliveries: queue.Queue[Delivery] = queue.Queue()
        self.forged = 0  # deliveries whose signature did not verify
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/keystile"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                try:
                    event = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError:
                    receiver.forged += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                self.send_response(receiver.status)
                self.end_headers()
                if 200 <= receiver.status < 300:
                    receiver.deliveries.put(Delivery(headers["webhook-id"], event, body))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def take(self, count: int, timeout: float = 15) -> list[Delivery]:
        """The next ``count`` verified deliveries (waits for each)."""
        return [self.deliveries.get(timeout=timeout) for _ in range(count)]

    def types(self, got: list[Delivery]) -> list[str]:
        return [d.event["type"] for d in got]


def body_text(delivery: Delivery) -> str:
    return json.dumps(delivery.event)

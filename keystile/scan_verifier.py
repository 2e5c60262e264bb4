"""``keystile scan --serve-verifier``: the checksum check as an HTTP verifier for TruffleHog's
custom detectors (``docs/scanners/trufflehog.yaml``).

TruffleHog POSTs ``{"<detector>": {"<regex name>": ["<match>", "<group>"...]}}``; the answer
is 200 when every named regex matched a whole, valid Keystile key (format and checksum), 403
otherwise, 400 for a body of any other shape. Offline, no secrets: "verified" means "a real
Keystile key", not "still active". Nothing is logged or stored; the key never goes back out.
"""

from __future__ import annotations

import json
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from policies.errors import InvalidKey
from policies.keys.keyformat import parse

MAX_BODY = 64 * 1024  # TruffleHog sends one match per request


def is_key(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse(value)
    except InvalidKey:
        return False
    return True


def verdict(body: bytes) -> HTTPStatus:
    try:
        request: Any = json.loads(body)
    except ValueError:
        return HTTPStatus.BAD_REQUEST
    if not isinstance(request, dict) or not request:
        return HTTPStatus.BAD_REQUEST
    matches: list[Any] = []
    for detector in request.values():
        if not isinstance(detector, dict) or not detector:
            return HTTPStatus.BAD_REQUEST
        matches.extend(detector.values())
    if not all(isinstance(match, list) for match in matches):
        return HTTPStatus.BAD_REQUEST
    valid = all(any(is_key(value) for value in match) for match in matches)
    return HTTPStatus.OK if valid else HTTPStatus.FORBIDDEN


class _Handler(BaseHTTPRequestHandler):
    server_version = "keystile-scan-verifier"
    sys_version = ""
    timeout = 10  # seconds a client may take to send its request

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.isascii() or not length.isdigit():
            self._answer(HTTPStatus.LENGTH_REQUIRED)
        elif int(length) > MAX_BODY:
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        else:
            self._answer(verdict(self.rfile.read(int(length))))

    def do_GET(self) -> None:
        self._answer(HTTPStatus.METHOD_NOT_ALLOWED)

    def _answer(self, status: HTTPStatus) -> None:
        body = json.dumps({"status": status.value, "verified": status is HTTPStatus.OK}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status in (HTTPStatus.LENGTH_REQUIRED, HTTPStatus.REQUEST_ENTITY_TOO_LARGE):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no request is logged."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def verifier(host: str, port: int) -> ThreadingHTTPServer:
    """The server, bound (port 0: any free port); run it with ``serve_forever()``."""
    return (_Server6 if ":" in host else _Server)((host, port), _Handler)

"""A reporter's side of the leak-report contracts: GitHub's signing key and a local server
of its public key set (what https://api.github.com/meta/public_keys/secret_scanning is)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class Signer:
    """A P-256 key pair, as GitHub holds one, named ``identifier``."""

    def __init__(self, identifier: str) -> None:
        self.identifier = identifier
        self.key = ec.generate_private_key(ec.SECP256R1())

    def pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes) -> dict[str, str]:
        return {
            "Github-Public-Key-Identifier": self.identifier,
            "Github-Public-Key-Signature": self.sign(body),
            "Content-Type": "application/json",
        }


class KeyServer:
    """Serves ``{"public_keys": [...]}`` of its signers; counts the requests it answered."""

    def __init__(self) -> None:
        self.signers: list[Signer] = []
        self.requests = 0
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.down:
                    self.send_error(503)
                    return
                body = json.dumps(server.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = (
            f"http://127.0.0.1:{self.httpd.server_address[1]}/meta/public_keys/secret_scanning"
        )

    def document(self) -> dict[str, Any]:
        return {
            "public_keys": [
                {"key_identifier": s.identifier, "key": s.pem(), "is_current": True}
                for s in self.signers
            ]
        }


@contextmanager
def key_server(*signers: Signer) -> Iterator[KeyServer]:
    server = KeyServer()
    server.signers.extend(signers)
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(5)


def github_body(*items: dict[str, Any]) -> bytes:
    return json.dumps(list(items)).encode()


def found(
    token: str, url: str = "https://github.com/acme/app/blob/abc/config.py"
) -> dict[str, Any]:
    return {"token": token, "type": "keystile_sdk_key", "url": url, "source": "content"}

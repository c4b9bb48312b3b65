"""Real local receivers for notification tests: an HTTP server for Apprise's `json://` and an
SMTP server (aiosmtpd) for `mailto://`, both on 127.0.0.1, recording what arrives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers_ports import free_port


@dataclass
class Received:
    """What a receiver got: one entry per message."""

    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def json_receiver(status: int = 200) -> Iterator[Received]:
    """An HTTP server taking Apprise's JSON POSTs; `url` is its json:// URL (no secrets)."""
    got = Received("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.messages.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.url = f"json://127.0.0.1:{server.server_address[1]}"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def smtp_receiver() -> Iterator[Received]:
    """An SMTP server (aiosmtpd); `url` is a mailto:// URL sending to it in plain SMTP."""
    from aiosmtpd.controller import Controller

    got = Received("")

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mail = message_from_bytes(envelope.content, policy=policy.default)
            body = mail.get_body(("plain", "html"))
            got.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "subject": str(mail["subject"]),
                    "body": body.get_content() if body is not None else "",
                }
            )
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    got.url = (
        f"mailto://127.0.0.1:{port}?from=tvmaze-sync@example.test&to=me@example.test&mode=insecure"
    )
    try:
        yield got
    finally:
        controller.stop()

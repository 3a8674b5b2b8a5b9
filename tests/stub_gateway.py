"""A small OpenAI-compatible gateway on loopback, scripted per model, for tests.

``StubGateway.script[model]`` is a list of replies consumed in order (the last one repeats):
``("ok", content)``, ``("ok", content, usage)``, ``("status", code, body)``, ``("sleep", seconds, content)``,
``("raw", body_text)`` or ``("drop", content)`` (answers, then closes the kept-alive connection without
saying so, as servers do with idle connections). Every request is recorded with its headers and JSON body.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubGateway:
    def __init__(self) -> None:
        self.script: dict[str, list[tuple[Any, ...]]] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    replies = stub.script.get(body.get("model"), [("status", 404, "no such model")])
                    reply = replies.pop(0) if len(replies) > 1 else replies[0]
                stub._answer(self, reply, body.get("model"))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # server_close() joins handler threads, so a reply still sleeping (a timeout test) finishes and its
        # socket is closed here, not garbage-collected later as a ResourceWarning in another test.
        self.server.daemon_threads = False
        self.server.block_on_close = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _answer(self, handler: BaseHTTPRequestHandler, reply: tuple[Any, ...], model: str) -> None:
        kind = reply[0]
        if kind == "drop":
            handler.close_connection = True
            reply, kind = ("ok", reply[1]), "ok"
        if kind == "sleep":
            time.sleep(reply[1])
            reply = ("ok", reply[2])
            kind = "ok"
        if kind == "ok":
            usage = reply[2] if len(reply) > 2 else {"prompt_tokens": 11, "completion_tokens": 7}
            payload = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": model,
                    "usage": usage,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply[1]}}],
                }
            )
            self._send(handler, 200, payload.encode(), "application/json")
        elif kind == "status":
            self._send(handler, reply[1], str(reply[2]).encode(), "text/plain")
        else:
            self._send(handler, 200, str(reply[1]).encode(), "text/html")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, data: bytes, content_type: str) -> None:
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def __enter__(self) -> StubGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

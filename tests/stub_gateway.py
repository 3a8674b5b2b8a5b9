"""A small OpenAI-compatible gateway on loopback, scripted per model, for tests.

``StubGateway.script[model]`` is a list of replies consumed in order (the last one repeats):
``("ok", content)``, ``("ok", content, usage)``, ``("status", code, body)``, ``("sleep", seconds, content)``,
``("raw", body_text)`` or ``("drop", content)`` (answers, then closes the kept-alive connection without
saying so, as servers do with idle connections). ``StubGateway.reply_to[model]``, when set, is called with
the request's messages and returns the reply instead (answers that depend on the input, at any
concurrency). Every request is recorded with its headers and JSON body.

``POST /v1/embeddings`` answers with ``StubGateway.embed(text)`` for each input (by default
:func:`word_vector`: deterministic, texts sharing words are near); ``embedding_errors`` is a list of
replies (``("status", code, body)`` or ``("raw", text)``) consumed by the next embedding calls first;
``base64`` says what a request for ``encoding_format: "base64"`` gets: packed float32 ("honour"), JSON
floats ("ignore") or HTTP 400 ("refuse").
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import ssl
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMBEDDING_DIM = 16


def word_vector(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """A deterministic embedding: each lower-cased word adds a hashed unit direction; normalized."""
    vector = [0.0] * dim
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,:;!?").encode()).digest()
        vector[digest[0] % dim] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector] if any(vector) else [1.0] + [0.0] * (dim - 1)


def _packed(vector: Any) -> Any:
    """A vector as the OpenAI API's base64 of little-endian float32 (what cannot be packed stays as it is)."""
    try:
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    except (TypeError, struct.error):
        return vector


class StubGateway:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.script: dict[str, list[tuple[Any, ...]]] = {}
        self.reply_to: dict[str, Callable[[list[dict[str, Any]]], tuple[Any, ...]]] = {}
        self.embed: Callable[[str], Any] = word_vector
        self.embedding_errors: list[tuple[Any, ...]] = []
        self.base64 = (
            "honour"  # encoding_format "base64": honour (pack float32) | ignore (floats) | refuse (400)
        )
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
                embeddings = self.path.endswith("/v1/embeddings")
                with stub._lock:
                    stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    if embeddings:
                        error = stub.embedding_errors.pop(0) if stub.embedding_errors else None
                    elif body.get("model") in stub.reply_to:
                        reply = stub.reply_to[body["model"]](body.get("messages") or [])
                    else:
                        replies = stub.script.get(body.get("model"), [("status", 404, "no such model")])
                        reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if embeddings:
                    stub._answer_embeddings(self, body, error)
                else:
                    stub._answer(self, reply, body.get("model"))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # server_close() joins handler threads, so a reply still sleeping (a timeout test) finishes and its
        # socket is closed here, not garbage-collected later as a ResourceWarning in another test.
        self.server.daemon_threads = False
        self.server.block_on_close = True
        if tls is not None:  # https://: the listening socket hands out TLS connections
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
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

    def _answer_embeddings(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], error: Any) -> None:
        if error is not None:
            self._answer(handler, error, body.get("model"))
            return
        packed = body.get("encoding_format") == "base64"
        if packed and self.base64 == "refuse":
            self._answer(handler, ("status", 400, '{"error": "unknown parameter encoding_format"}'), None)
            return
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        encode = _packed if packed and self.base64 == "honour" else (lambda vector: vector)
        data = [
            {"object": "embedding", "index": i, "embedding": encode(self.embed(t))}
            for i, t in enumerate(texts)
        ]
        payload = json.dumps({"object": "list", "model": body.get("model"), "data": data})  # NaN stays NaN
        self._send(handler, 200, payload.encode(), "application/json")

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

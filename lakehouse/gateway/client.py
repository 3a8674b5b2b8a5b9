"""The OpenAI-compatible gateway client: ``POST {base}/v1/chat/completions`` (and ``/v1/embeddings``).

What Ollama, vLLM, llama.cpp's server and LiteLLM speak. A call never raises: timeouts,
connection errors, HTTP errors and bodies that are not the expected JSON become a failed
:class:`CallResult` with a precise error string. The bearer key (``$LH_GATEWAY_API_KEY``)
is sent in the Authorization header and never stored anywhere else. Embeddings are the
exception to "never raises": a failed ``/v1/embeddings`` call raises :class:`EmbeddingError`.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from lakehouse.core.errors import EmbeddingError, UsageError

DEFAULT_GATEWAY_URL = "http://127.0.0.1:11434"
DEFAULT_LOCAL_MODEL = "qwen2.5-coder:7b"
DEFAULT_ESCALATION_MODEL = "qwen2.5-coder:32b"
DEFAULT_TIMEOUT_S = 120.0
GATEWAY_ENV, KEY_ENV = "LH_GATEWAY_URL", "LH_GATEWAY_API_KEY"
LOCAL_MODEL_ENV, ESCALATION_MODEL_ENV = "LH_LOCAL_MODEL", "LH_ESCALATION_MODEL"


@dataclass
class CallResult:
    """One model call: its content, or why it failed, and what it cost."""

    model: str
    ok: bool
    content: str = ""
    error: str | None = None
    latency_ms: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    gate_reasons: list[str] = field(
        default_factory=list
    )  # why this call's answer did not pass (set by replay)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "ok": self.ok,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "gate_reasons": self.gate_reasons,
        }


def gateway_url(option: str | None) -> str:
    return (option or os.environ.get(GATEWAY_ENV) or DEFAULT_GATEWAY_URL).rstrip("/")


def model_names(local: str | None, escalation: str | None) -> tuple[str, str]:
    return (
        local or os.environ.get(LOCAL_MODEL_ENV) or DEFAULT_LOCAL_MODEL,
        escalation or os.environ.get(ESCALATION_MODEL_ENV) or DEFAULT_ESCALATION_MODEL,
    )


class Gateway:
    """A client for one gateway, shared by many threads: one keep-alive connection per thread.

    The standard library's ``http.client`` rather than httpx: measured against the load
    benchmark's stub (50 threads), a pooled ``httpx.Client`` managed ~1,100 requests/s with
    the threads queueing on its pool lock; a connection per thread with ``http.client``
    ~4,200/s. Proxy settings from the environment are not used.
    """

    def __init__(
        self, base_url: str, *, api_key: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"gateway URL {base_url!r} must be http:// or https:// with a host")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._chat_path = f"{parts.path}/v1/chat/completions"
        self._embeddings_path = f"{parts.path}/v1/embeddings"
        key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._opened_lock = threading.Lock()

    def chat(self, model: str, system: str, user: str) -> CallResult:
        body = {
            "model": model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "stream": False,
        }
        start = time.perf_counter()
        result = CallResult(model=model, ok=False)
        try:
            status, payload = self._exchange_or_fail(self._chat_path, json.dumps(body).encode("utf-8"))
            result.latency_ms = _ms(start)
            _read_completion(status, payload, result)
        except _TransportFailure as exc:
            result.error = str(exc)
        result.latency_ms = result.latency_ms or _ms(start)
        return result

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One embedding per text, in order (``POST /v1/embeddings``); raises :class:`EmbeddingError`.

        Only the response's shape is checked here; whether a vector is usable (its dimension,
        finite values) is for the caller to judge per vector.
        """
        body = json.dumps({"model": model, "input": texts}).encode("utf-8")
        try:
            status, payload = self._exchange_or_fail(self._embeddings_path, body)
        except _TransportFailure as exc:
            raise EmbeddingError(f"embedding call: {exc}") from exc
        return _read_embeddings(status, payload, len(texts))

    def _exchange_or_fail(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST and read the answer; a timeout, connection or transport error is a :class:`_TransportFailure`."""
        try:
            return self._post(path, body)
        except TimeoutError as exc:
            self._drop_connection()
            raise _TransportFailure(f"timeout after {self.timeout_s:g}s calling {self.base_url}") from exc
        except _ConnectError as exc:
            raise _TransportFailure(f"connection error to {self.base_url}: {exc.__cause__}") from exc
        except (http.client.HTTPException, OSError) as exc:
            self._drop_connection()
            raise _TransportFailure(f"HTTP transport error: {type(exc).__name__}: {exc}") from exc

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        connection, reused = self._connection()
        try:
            return self._exchange(connection, path, body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        # The server closed a kept-alive connection before answering: once more on a new one.
        self._drop_connection()
        connection, _ = self._connection()
        return self._exchange(connection, path, body)

    def _exchange(self, connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
        connection.request("POST", path, body, self._headers)
        response = connection.getresponse()
        payload = response.read()
        if response.will_close:
            self._drop_connection()
        return response.status, payload

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it served a request before."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, True
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=self.timeout_s)
        try:
            connection.connect()
        except TimeoutError:
            raise
        except OSError as exc:
            raise _ConnectError() from exc
        self._local.connection = connection
        with self._opened_lock:
            self._opened.append(connection)
        return connection, False

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        with self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ConnectError(Exception):
    """Opening the connection failed (the cause says why)."""


class _TransportFailure(Exception):
    """No HTTP answer: its message is the precise error a failed call records."""


def _http_error(status: int, text: str) -> str:
    excerpt = " ".join(text.split())[:200]
    return f"HTTP {status} from gateway" + (f": {excerpt}" if excerpt else "")


def _ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)


def _read_completion(status: int, payload: bytes, result: CallResult) -> None:
    text = payload.decode("utf-8", errors="replace")
    if status != 200:
        result.error = _http_error(status, text)
        return
    try:
        data = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        result.error = f"malformed response: body is not JSON ({text[:80]!r})"
        return
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        result.error = "malformed response: no choices[0].message.content"
        return
    if not isinstance(content, str):
        result.error = "malformed response: choices[0].message.content is not a string"
        return
    usage = data.get("usage") if isinstance(data, dict) else None
    if isinstance(usage, dict):
        result.prompt_tokens = _int(usage.get("prompt_tokens"))
        result.completion_tokens = _int(usage.get("completion_tokens"))
    result.ok, result.content = True, content


def _read_embeddings(status: int, payload: bytes, expected: int) -> list[list[float]]:
    text = payload.decode("utf-8", errors="replace")
    if status != 200:
        raise EmbeddingError(f"embedding call: {_http_error(status, text)}")
    try:
        data = json.loads(payload)
        items = sorted(data["data"], key=lambda item: item.get("index", 0))
        vectors = [item["embedding"] for item in items]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmbeddingError(f"embedding call: body is not JSON ({text[:80]!r})") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise EmbeddingError("embedding call: malformed response, no data[].embedding") from exc
    if len(vectors) != expected:
        raise EmbeddingError(f"embedding call: {len(vectors)} embeddings for {expected} inputs")
    return vectors


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

"""The OpenAI-compatible gateway client: ``POST {base}/v1/chat/completions`` (and ``/v1/embeddings``).

What Ollama, vLLM, llama.cpp's server and LiteLLM speak. A call never raises: timeouts,
connection errors, HTTP errors and bodies that are not the expected JSON become a failed
:class:`CallResult` with a precise error string. The bearer key (``$LH_GATEWAY_API_KEY``)
is sent in the Authorization header and never stored anywhere else. Embeddings are the
exception to "never raises": a failed ``/v1/embeddings`` call raises :class:`EmbeddingError`.

Transport is httpx's (:mod:`lakehouse.gateway.transport`, over httpcore): the proxy the environment
names (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``; chosen once per gateway), TLS verified against the system's CA store (which honours ``SSL_CERT_FILE``) or a
bundle of the user's (``--ca-bundle`` / ``$LH_GATEWAY_CA_BUNDLE``), a read timeout
(``--timeout`` / ``$LH_GATEWAY_TIMEOUT``, default 120 s) and a connect timeout of at most 10 s.
"""

from __future__ import annotations

import array
import base64
import binascii
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import httpx

from lakehouse.core.errors import EmbeddingError, UsageError
from lakehouse.gateway.transport import LeanTransport
from lakehouse.gateway.transport import usable_for as lean_transport_usable

DEFAULT_GATEWAY_URL = "http://127.0.0.1:11434"
DEFAULT_LOCAL_MODEL = "qwen2.5-coder:7b"
DEFAULT_ESCALATION_MODEL = "qwen2.5-coder:32b"
DEFAULT_TIMEOUT_S = 120.0
MAX_CONNECT_TIMEOUT_S = 10.0
GATEWAY_ENV, KEY_ENV = "LH_GATEWAY_URL", "LH_GATEWAY_API_KEY"
TIMEOUT_ENV, CA_BUNDLE_ENV = "LH_GATEWAY_TIMEOUT", "LH_GATEWAY_CA_BUNDLE"
LOCAL_MODEL_ENV, ESCALATION_MODEL_ENV = "LH_LOCAL_MODEL", "LH_ESCALATION_MODEL"
# An embedding: float32 unpacked from base64, or the JSON numbers of a server that sent numbers.
Vector = list[float] | array.array


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


def gateway_timeout(option: float | None) -> float:
    """``--timeout``, else ``$LH_GATEWAY_TIMEOUT``, else 120 seconds."""
    if option is not None:
        return option
    text = os.environ.get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"${TIMEOUT_ENV} must be a number of seconds above 0, not {text!r}")
    return value


def ca_bundle(option: str | None) -> str | None:
    """``--ca-bundle``, else ``$LH_GATEWAY_CA_BUNDLE``; None: the system's CA store (and ``SSL_CERT_FILE``)."""
    return option or os.environ.get(CA_BUNDLE_ENV) or None


def model_names(local: str | None, escalation: str | None) -> tuple[str, str]:
    return (
        local or os.environ.get(LOCAL_MODEL_ENV) or DEFAULT_LOCAL_MODEL,
        escalation or os.environ.get(ESCALATION_MODEL_ENV) or DEFAULT_ESCALATION_MODEL,
    )


def _tls_context(bundle: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot use CA bundle {bundle}: {getattr(exc, 'strerror', None) or exc}") from exc


class Gateway:
    """A client for one gateway, shared by many threads: one httpx transport (one keep-alive connection)
    per thread.

    One connection per thread rather than one shared pool: measured against the load benchmark's stub
    at 50 threads, 0.64 ms of CPU per call against 0.70 ms shared (bench/NOTES.md). Requests go to
    httpx's own transport, not through an ``httpx.Client``: the client's per-request work (merging
    URLs and headers, cookies, auth and redirect handling, and matching the URL against the
    environment's proxies) cost 0.33 ms a call, a tenth of a replay's CPU under load. The proxy the
    environment names for the gateway (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, unless
    ``NO_PROXY`` covers its host) is resolved once, when the gateway is made. The transport is the lean
    one of :mod:`lakehouse.gateway.transport` (fewer system calls a call), or httpx's own
    ``HTTPTransport`` behind an ``https://`` proxy. The transports share one TLS context, built once
    (building one costs ~15 ms).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float | None = None,
        ca_bundle_path: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"gateway URL {base_url!r} must be http:// or https:// with a host")
        self._chat_url = httpx.URL(f"{self.base_url}/v1/chat/completions")
        self._embeddings_url = httpx.URL(f"{self.base_url}/v1/embeddings")
        key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "lakehouse",
        }
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self.timeout_s = gateway_timeout(timeout_s)
        timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, MAX_CONNECT_TIMEOUT_S))
        self._extensions = {"timeout": timeout.as_dict()}
        self.ca_bundle = ca_bundle(ca_bundle_path)
        self._tls = _tls_context(self.ca_bundle)
        self.proxy = environment_proxy(self.base_url)
        self._local = threading.local()
        self._transports: list[httpx.BaseTransport] = []
        self._transports_lock = threading.Lock()
        self._base64_embeddings = True  # until the server refuses encoding_format

    def chat(self, model: str, system: str, user: str) -> CallResult:
        return self.chat_messages(
            model, [{"role": "system", "content": system}, {"role": "user", "content": user}]
        )

    def chat_messages(self, model: str, messages: list[dict[str, str]]) -> CallResult:
        """A chat completion of ``messages`` (``{"role", "content"}`` each, in order)."""
        body = {"model": model, "messages": messages, "stream": False}
        start = time.perf_counter()
        result = CallResult(model=model, ok=False)
        try:
            status, payload = self._post(self._chat_url, json.dumps(body).encode("utf-8"))
            result.latency_ms = _ms(start)
            _read_completion(status, payload, result)
        except _TransportFailure as exc:
            result.error = str(exc)
        result.latency_ms = result.latency_ms or _ms(start)
        return result

    def embed(self, model: str, texts: list[str]) -> list[Vector]:
        """One embedding per text, in order (``POST /v1/embeddings``); raises :class:`EmbeddingError`.

        Asks for ``encoding_format: "base64"`` (packed little-endian float32, as the OpenAI API
        sends it: a quarter of the bytes of JSON floats and no float parsing); a vector that comes
        back as JSON numbers anyway is taken as it is. A server that refuses the parameter (HTTP
        400 or 422) is asked again without it, and never asked for base64 again by this client.
        Only the response's shape is checked here; whether a vector is usable (its dimension,
        finite values) is for the caller to judge per vector.
        """
        request: dict[str, object] = {"model": model, "input": texts}
        packed = self._base64_embeddings
        if packed:
            request["encoding_format"] = "base64"
        try:
            status, payload = self._post(self._embeddings_url, json.dumps(request).encode("utf-8"))
            if packed and status in (400, 422):
                del request["encoding_format"]
                status, payload = self._post(self._embeddings_url, json.dumps(request).encode("utf-8"))
                if status == 200:
                    self._base64_embeddings = False
        except _TransportFailure as exc:
            raise EmbeddingError(f"embedding call: {exc}") from exc
        return _read_embeddings(status, payload, len(texts))

    def _post(self, url: httpx.URL, body: bytes) -> tuple[int, bytes]:
        """POST and read the answer; a timeout, connection or transport error is a :class:`_TransportFailure`.

        A server that closed a kept-alive connection before answering gets the request once more.
        """
        transport = self._transport()
        for attempt in (1, 2):
            try:
                request = httpx.Request(
                    "POST", url, headers=self._headers, content=body, extensions=self._extensions
                )
                response = transport.handle_request(request)
                try:
                    return response.status_code, response.read()
                finally:
                    response.close()
            except httpx.TimeoutException as exc:
                raise _TransportFailure(f"timeout after {self.timeout_s:g}s calling {self.base_url}") from exc
            except httpx.ConnectError as exc:
                raise _TransportFailure(self._connect_error(exc)) from exc
            except httpx.ProxyError as exc:
                raise _TransportFailure(f"proxy error calling {self.base_url}: {exc}") from exc
            except httpx.RemoteProtocolError as exc:
                if attempt == 2:
                    raise _TransportFailure(f"HTTP transport error: {type(exc).__name__}: {exc}") from exc
            except httpx.TransportError as exc:
                raise _TransportFailure(f"HTTP transport error: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def _connect_error(self, exc: httpx.ConnectError) -> str:
        text = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text:
            where = f"the CA bundle {self.ca_bundle}" if self.ca_bundle else "the system's CA store"
            return (
                f"TLS error calling {self.base_url}: its certificate is not trusted by {where} "
                f"(pass --ca-bundle FILE or set ${CA_BUNDLE_ENV})"
            )
        return f"connection error to {self.base_url}: {text}"

    def _transport(self) -> httpx.BaseTransport:
        """This thread's transport: one keep-alive connection, through the environment's proxy if any
        (the lean one of :mod:`lakehouse.gateway.transport`, unless the proxy is itself https)."""
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = (
                LeanTransport(self._tls, self.proxy)
                if lean_transport_usable(self.proxy)
                else httpx.HTTPTransport(
                    verify=self._tls,
                    proxy=self.proxy,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                )
            )
            self._local.transport = transport
            with self._transports_lock:
                self._transports.append(transport)
        return transport

    def close(self) -> None:
        with self._transports_lock:
            for transport in self._transports:
                transport.close()
            self._transports.clear()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``: ``HTTPS_PROXY``/``HTTP_PROXY`` by its scheme, else
    ``ALL_PROXY`` (either case), None when ``NO_PROXY`` covers its host (the standard library's rules)."""
    proxies = urllib.request.getproxies_environment()
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all") or None


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


def _read_embeddings(status: int, payload: bytes, expected: int) -> list[Vector]:
    text = payload.decode("utf-8", errors="replace")
    if status != 200:
        raise EmbeddingError(f"embedding call: {_http_error(status, text)}")
    try:
        data = json.loads(payload)
        items = sorted(data["data"], key=lambda item: item.get("index", 0))
        vectors = [_vector(item["embedding"]) for item in items]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmbeddingError(f"embedding call: body is not JSON ({text[:80]!r})") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise EmbeddingError("embedding call: malformed response, no data[].embedding") from exc
    except (binascii.Error, ValueError) as exc:
        raise EmbeddingError(f"embedding call: a base64 embedding is not packed float32 ({exc})") from exc
    if len(vectors) != expected:
        raise EmbeddingError(f"embedding call: {len(vectors)} embeddings for {expected} inputs")
    return vectors


def _vector(embedding: object) -> Vector:
    """A base64 embedding unpacked to float32; JSON numbers (or anything else) as they came."""
    if not isinstance(embedding, str):
        return embedding  # type: ignore[return-value]  # judged by the caller, per vector
    raw = base64.b64decode(embedding, validate=True)
    if len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    vector = array.array("f", raw)
    if sys.byteorder == "big":
        vector.byteswap()
    return vector


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

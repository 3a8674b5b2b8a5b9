"""The OpenAI-compatible gateway client: ``POST {base}/v1/chat/completions`` over httpx.

What Ollama, vLLM, llama.cpp's server and LiteLLM speak. A call never raises: timeouts,
connection errors, HTTP errors and bodies that are not the expected JSON become a failed
:class:`CallResult` with a precise error string. The bearer key (``$LH_GATEWAY_API_KEY``)
is sent in the Authorization header and never stored anywhere else.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

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
    """A pooled HTTP client for one gateway; share one across threads, close when done."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.timeout_s = timeout_s
        self._client = httpx.Client(headers=headers, timeout=timeout_s, limits=limits)

    def chat(self, model: str, system: str, user: str) -> CallResult:
        body = {
            "model": model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "stream": False,
        }
        start = time.perf_counter()
        result = CallResult(model=model, ok=False)
        try:
            response = self._client.post(f"{self.base_url}/v1/chat/completions", json=body)
            result.latency_ms = _ms(start)
            _read_completion(response, result)
        except httpx.TimeoutException:
            result.error = f"timeout after {self.timeout_s:g}s calling {self.base_url}"
        except httpx.ConnectError as exc:
            result.error = f"connection error to {self.base_url}: {exc}"
        except httpx.HTTPError as exc:
            result.error = f"HTTP transport error: {type(exc).__name__}: {exc}"
        result.latency_ms = result.latency_ms or _ms(start)
        return result

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)


def _read_completion(response: httpx.Response, result: CallResult) -> None:
    if response.status_code != 200:
        excerpt = " ".join(response.text.split())[:200]
        result.error = f"HTTP {response.status_code} from gateway" + (f": {excerpt}" if excerpt else "")
        return
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        result.error = f"malformed response: body is not JSON ({response.text[:80]!r})"
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


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

"""The OpenAI-compatible gateway client: chat completions and embeddings (PRODUCT.md §4).

Used by retrieval (embeddings) and replay (chat), over httpx (proxies from the environment, TLS with
the system's or a given CA bundle). Offers :class:`Gateway`, :class:`CallResult`, ``Vector`` (an embedding), and the settings
with their documented defaults: :func:`gateway_url`, :func:`gateway_timeout`, :func:`ca_bundle`,
:func:`model_names`.
"""

from lakehouse.gateway.client import (
    CA_BUNDLE_ENV,
    DEFAULT_ESCALATION_MODEL,
    DEFAULT_GATEWAY_URL,
    DEFAULT_LOCAL_MODEL,
    DEFAULT_TIMEOUT_S,
    MAX_CONNECT_TIMEOUT_S,
    TIMEOUT_ENV,
    CallResult,
    Gateway,
    Vector,
    ca_bundle,
    gateway_timeout,
    gateway_url,
    model_names,
)

__all__ = [
    "CA_BUNDLE_ENV",
    "DEFAULT_ESCALATION_MODEL",
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_LOCAL_MODEL",
    "DEFAULT_TIMEOUT_S",
    "MAX_CONNECT_TIMEOUT_S",
    "TIMEOUT_ENV",
    "CallResult",
    "Gateway",
    "Vector",
    "ca_bundle",
    "gateway_timeout",
    "gateway_url",
    "model_names",
]

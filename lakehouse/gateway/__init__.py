"""The OpenAI-compatible gateway client: chat completions and embeddings (PRODUCT.md §4).

Used by retrieval (embeddings) and replay (chat). Offers :class:`Gateway`, :class:`CallResult`,
:func:`gateway_url` and :func:`model_names` with the documented defaults.
"""

from lakehouse.gateway.client import (
    DEFAULT_ESCALATION_MODEL,
    DEFAULT_GATEWAY_URL,
    DEFAULT_LOCAL_MODEL,
    DEFAULT_TIMEOUT_S,
    CallResult,
    Gateway,
    gateway_url,
    model_names,
)

__all__ = [
    "DEFAULT_ESCALATION_MODEL",
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_LOCAL_MODEL",
    "DEFAULT_TIMEOUT_S",
    "CallResult",
    "Gateway",
    "gateway_url",
    "model_names",
]

"""lakehouse: an embedded evidence store for LLM agent logs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lakehouse")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

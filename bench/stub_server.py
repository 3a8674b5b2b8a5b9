"""A fast OpenAI-compatible stub gateway for the load benchmark, run in its own process.

    python bench/stub_server.py [--port 0]     # prints "listening <url>" on stdout, serves until killed

A raw asyncio HTTP/1.1 server (keep-alive, Content-Length bodies only), answering
``POST /v1/chat/completions`` by what the user message asks for, so that each load scenario
gets a deterministic outcome:

- ``[scenario:server-error]`` in the task: the *local* model answers HTTP 500;
- ``[scenario:ungrounded]`` in the task: the local model answers without citing anything;
- otherwise (and always for any other model) the answer cites the first ``rag:`` id of the
  prompt, or, with no playbook in the prompt, is a plain answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

LOCAL_MODEL = "load-local"
RAG_ID = re.compile(r"\[(rag:[^\]\s]+)\]")


def answer(body: dict) -> tuple[int, dict]:
    messages = body.get("messages") or [{}]
    user = str(messages[-1].get("content", ""))
    model = body.get("model", "")
    if model == LOCAL_MODEL and "[scenario:server-error]" in user:
        return 500, {"error": {"message": "stub: scripted server error"}}
    if model == LOCAL_MODEL and "[scenario:ungrounded]" in user:
        content = "Restart the service and hope for the best."
    else:
        cited = RAG_ID.search(user)
        content = f"Follow [{cited.group(1)}] step by step." if cited else "Check the logs, then retry once."
    return 200, {
        "id": "stub",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": len(user) // 4, "completion_tokens": len(content) // 4},
    }


def response_bytes(status: int, payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    reason = "OK" if status == 200 else "Internal Server Error"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Protocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            raw, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            try:
                status, payload = answer(json.loads(raw or b"{}"))
            except (ValueError, AttributeError):
                status, payload = 400, {"error": {"message": "stub: body is not a JSON object"}}
            self.transport.write(response_bytes(status, payload))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Protocol, "127.0.0.1", port, backlog=1024)
    print(f"listening http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()

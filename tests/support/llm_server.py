"""A loopback OpenAI-compatible chat server for LLM tests (uvicorn in a thread).

It answers ``POST /v1/chat/completions`` by applying a small deterministic edit to the user message
(``teh`` -> ``the``, trailing spaces trimmed) so tests can tell the LLM ran; ``GET /v1/models`` lists
one model. ``mode`` scripts failures: ``error`` (500 with an OpenAI error body), ``garbage``
(200, not JSON), ``empty`` (200, empty content), ``chatty`` (a long preamble), ``slow`` (sleeps).
Every request is recorded with its headers and JSON body.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from tests.support.servers import ThreadServer

MODEL = "test-model-7b"


class FakeLLM:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        app = FastAPI()
        app.post("/v1/chat/completions")(self._chat)
        app.get("/v1/models")(self._models)
        self.server = ThreadServer(app)

    @property
    def base_url(self) -> str:
        return self.server.base_url + "/v1"

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if self.mode == "error":
            return JSONResponse({"error": {"message": "model overloaded", "type": "server_error"}}, status_code=500)
        if self.mode == "garbage":
            return PlainTextResponse("<html>proxy error</html>")
        if self.mode == "slow":
            time.sleep(2)
        text = body["messages"][-1]["content"]
        answer = {"ok": text.replace("teh", "the").strip(), "empty": "",
                  "chatty": "Sure! Here is the cleaned message, with notes. " * 20 + text}[self.mode]
        return {"id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model", MODEL),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]}

    async def _models(self) -> Any:
        return {"object": "list", "data": [{"id": MODEL, "object": "model"}]}

    def __enter__(self) -> FakeLLM:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

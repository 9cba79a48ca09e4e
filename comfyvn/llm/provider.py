"""The LLM provider interface and its one real implementation: any OpenAI-compatible chat endpoint
(OpenAI, KoboldCpp, text-generation-webui, LM Studio, Ollama, vLLM, llama.cpp server all speak it).

Configured by the ``llm`` settings section; the API key is never stored in settings, only the name of
the environment variable holding it (``llm.api_key_env``). With ``llm.provider`` = ``offline`` (the
default) there is no provider and callers use their deterministic offline fallback.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from comfyvn.config.settings import SettingsManager
from comfyvn.core.errors import InvalidInput, UpstreamError

log = logging.getLogger(__name__)

PROVIDERS = ("offline", "openai")
ERROR_TEXT = 300  # characters of an upstream error message shown to users


class LLMProvider(Protocol):
    name: str
    model: str

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> str:
        """The assistant's reply to ``messages`` (``[{role, content}]``)."""
        ...


@dataclass(frozen=True)
class LLMSettings:
    provider: str
    base_url: str
    model: str
    api_key_env: str
    timeout_seconds: float
    max_tokens: int
    temperature: float

    @classmethod
    def load(cls, settings: SettingsManager | None = None) -> LLMSettings:
        raw = (settings or SettingsManager()).get("llm")
        if not isinstance(raw, dict):
            raise InvalidInput("setting 'llm' must be an object", details={"key": "llm"})
        provider = str(raw.get("provider") or "offline")
        if provider not in PROVIDERS:
            raise InvalidInput(f"setting llm.provider is {provider!r}; use one of {', '.join(PROVIDERS)}",
                               details={"key": "llm.provider"})
        try:
            return cls(provider, str(raw.get("base_url") or "").rstrip("/"), str(raw.get("model") or ""),
                       str(raw.get("api_key_env") or ""), float(raw.get("timeout_seconds") or 60),
                       int(raw.get("max_tokens") or 1024), float(raw.get("temperature") or 0))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"the llm settings hold a value of the wrong type: {exc}",
                               details={"key": "llm"}) from None

    @property
    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""

    def describe(self) -> dict[str, Any]:
        """What is configured, for status pages (never the key itself)."""
        return {"provider": self.provider, "configured": self.provider != "offline", "base_url": self.base_url,
                "model": self.model, "api_key_env": self.api_key_env or None,
                "api_key_present": bool(self.api_key), "timeout_seconds": self.timeout_seconds}


class OpenAICompatible:
    """``POST {base_url}/chat/completions`` without streaming; ``GET {base_url}/models`` as the check."""

    name = "openai"

    def __init__(self, config: LLMSettings, transport: httpx.BaseTransport | None = None) -> None:
        if not config.base_url.startswith(("http://", "https://")):
            raise InvalidInput("setting llm.base_url must be an http(s) URL such as http://127.0.0.1:5001/v1",
                               details={"key": "llm.base_url"})
        self.config = config
        self.model = config.model
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(base_url=config.base_url, headers=headers, timeout=config.timeout_seconds,
                                    transport=transport)

    def close(self) -> None:
        self._client.close()

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> str:
        body: dict[str, Any] = {"messages": messages, "temperature": self.config.temperature,
                                "max_tokens": max_tokens or self.config.max_tokens, "stream": False}
        if self.model:
            body["model"] = self.model
        data = self._request("POST", "/chat/completions", body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self._error("the answer has no choices[0].message.content") from None
        if not isinstance(content, str):
            raise self._error("choices[0].message.content is not text")
        return content

    def models(self) -> list[str]:
        data = self._request("GET", "/models", None)
        items = data.get("data") if isinstance(data, dict) else None
        return sorted(str(m.get("id")) for m in items or [] if isinstance(m, dict) and m.get("id"))

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.TimeoutException:
            raise self._error(f"no answer within {self.config.timeout_seconds:g} s (setting llm.timeout_seconds)",
                              code="llm_timeout") from None
        except httpx.HTTPError as exc:
            log.warning("LLM request to %s%s failed: %r", self.config.base_url, path, exc)
            raise self._error("cannot connect: is the LLM server running at llm.base_url?",
                              code="llm_unreachable") from None
        if response.status_code >= 400:
            log.warning("LLM %s %s answered %s: %s", method, path, response.status_code, response.text[:2000])
            raise self._error(f"HTTP {response.status_code}: {_upstream_message(response)}",
                              details={"upstream_status": response.status_code})
        try:
            return response.json()
        except ValueError:
            raise self._error("the answer is not JSON") from None

    def _error(self, message: str, *, code: str = "llm_error", details: dict[str, Any] | None = None
               ) -> UpstreamError:
        return UpstreamError(f"LLM provider at {self.config.base_url}: {message}", code=code,
                             details={"provider": self.name, **(details or {})})


def _upstream_message(response: httpx.Response) -> str:
    """The error message an OpenAI-style server put in its body (``{"error": {"message"}}``), short."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
    text = str(message or data.get("detail") or response.reason_phrase or "error") if isinstance(data, dict) \
        else response.reason_phrase or "error"
    return text if len(text) <= ERROR_TEXT else text[:ERROR_TEXT] + "…"


def configured_provider(settings: SettingsManager | None = None) -> OpenAICompatible | None:
    """The configured provider, or ``None`` when ``llm.provider`` is ``offline``."""
    config = LLMSettings.load(settings)
    if config.provider == "offline":
        return None
    return OpenAICompatible(config)

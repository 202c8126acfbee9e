"""OpenAI-compatible chat completions with JSON-schema structured output.

A direct `POST {OPENAI_BASE_URL}/chat/completions` through `web.request` rather than the
openai SDK: the SDK would need our httpx client underneath, but the product's client is not
a bare httpx client (pacing, SSRF guard, size caps and retries live above httpx), so handing
the SDK a transport would bypass exactly what the boundary is for. One JSON request and one
JSON answer need no SDK.

Tokens are budgeted per day across processes (OPENAI_DAILY_TOKENS_CAP): a call reserves a
conservative estimate of its prompt plus LLM_MAX_OUTPUT_TOKENS before it is sent, and gives
back what the answer's `usage` shows it did not use (all of it when the call failed before
the model ran).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acra_enrich.config import Settings
from acra_enrich.vendors.base import (
    DISABLED,
    ERROR,
    OK,
    TIMEOUT_STATUS,
    VendorClient,
    VendorOutcome,
    json_body,
    secret_values,
)
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.vendors.policies import OPENAI_DEFAULT_BASE_URL
from acra_enrich.web import WebClient

VENDOR = "openai"
_CHARS_PER_TOKEN = 3  # English averages ~4; 3 over-reserves a little, which is the safe side
_TOKENS_PER_MESSAGE = 8


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class LlmResult(VendorOutcome):
    data: dict[str, Any] | None = None  # the parsed JSON answer
    usage: TokenUsage | None = None
    model: str = ""


def estimate_tokens(messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any]) -> int:
    chars = sum(len(m.get("content", "")) for m in messages) + len(json.dumps(schema))
    return math.ceil(chars / _CHARS_PER_TOKEN) + _TOKENS_PER_MESSAGE * len(messages)


def _usage(body: Mapping[str, Any]) -> TokenUsage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    try:
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        return TokenUsage(prompt, completion, int(usage.get("total_tokens") or prompt + completion))
    except (TypeError, ValueError):
        return None


class LlmClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None) -> None:
        key = settings.openai_api_key
        super().__init__(web, budget, disabled_reason=None if key else "OPENAI_API_KEY is not set",
                         secrets=secret_values(key))
        self.base_url = (settings.openai_base_url or OPENAI_DEFAULT_BASE_URL).rstrip("/")
        self.model = settings.langchain_model
        self.max_output_tokens = settings.llm_max_output_tokens
        self._key = key

    async def complete_json(self, messages: Sequence[Mapping[str, str]], *, schema: Mapping[str, Any],
                            schema_name: str, max_output_tokens: int | None = None) -> LlmResult:
        """Ask for an answer that follows `schema` (strict JSON-schema mode); never raises."""
        if not self.enabled:
            return LlmResult(DISABLED, self._disabled_detail())
        assert self._key is not None
        max_out = max_output_tokens or self.max_output_tokens
        reserved = estimate_tokens(messages, schema) + max_out
        refused = await self._take(reserved)
        if refused is not None:
            return LlmResult(*refused)
        payload = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": 0,
            # max_tokens rather than max_completion_tokens: every OpenAI-compatible server knows it.
            "max_tokens": max_out,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": schema_name, "schema": dict(schema), "strict": True}},
        }
        result = await self.web.request("POST", f"{self.base_url}/chat/completions", json=payload,
                                        headers={"Authorization": f"Bearer {self._key.get_secret_value()}"})
        body = json_body(result)
        if not result.ok or not isinstance(body, dict):
            status, detail = (ERROR, "answer is not a JSON object") if result.ok else self._failure(
                result, _error_message(body))
            # A timed-out request may still have run (and been billed): keep that reservation.
            if status != TIMEOUT_STATUS:
                await self._refund(reserved)
            return LlmResult(status, detail, http_status=result.status)
        usage = _usage(body)
        if usage is not None:
            await self._refund(reserved - usage.total_tokens)
        model = str(body.get("model") or self.model)
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        found = choice.get("message")
        message = found if isinstance(found, dict) else {}
        if message.get("refusal"):
            return LlmResult(ERROR, "the model refused to answer", result.status, usage=usage, model=model)
        if choice.get("finish_reason") == "length":
            return LlmResult(ERROR, f"answer cut off at {max_out} tokens", result.status, usage=usage, model=model)
        try:
            data = json.loads(message.get("content") or "")
        except (TypeError, ValueError):
            return LlmResult(ERROR, "answer content is not JSON", result.status, usage=usage, model=model)
        if not isinstance(data, dict):
            return LlmResult(ERROR, "answer content is not a JSON object", result.status, usage=usage, model=model)
        return LlmResult(OK, "", result.status, data=data, usage=usage, model=model)


def _error_message(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None

"""A non-streamed answer assembled from the chunks a backend streamed: text, the model's
thinking (``reasoning_content``), tool calls put together from their deltas (OpenAI's
rule: a delta with an ``index`` seen before appends to that call's arguments), and
log probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Assembly:
    """One choice's pieces, in arrival order."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    logprobs: list[Any] = field(default_factory=list)
    finish_reason: str | None = None

    def add(self, choice: dict[str, Any]) -> None:
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            self.logprobs.extend(logprobs["content"])
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            self.text.append(str(choice.get("text") or ""))
            return
        if delta.get("content"):
            self.text.append(str(delta["content"]))
        if delta.get("reasoning_content"):
            self.reasoning.append(str(delta["reasoning_content"]))
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._add_call(call)

    def _add_call(self, delta: dict[str, Any]) -> None:
        index = int(delta.get("index") or 0)
        call = self.calls.get(index)
        given = delta.get("function")
        function: dict[str, Any] = given if isinstance(given, dict) else {}
        if call is None:
            call = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            self.calls[index] = call
        if delta.get("id"):
            call["id"] = str(delta["id"])
        if function.get("name"):
            call["function"]["name"] += str(function["name"])
        if function.get("arguments"):
            call["function"]["arguments"] += str(function["arguments"])

    def message(self) -> dict[str, Any]:
        """The assistant message: ``content`` is null when the answer is only tool calls."""
        text = "".join(self.text)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
            message["content"] = text or None
        return message

    def choice_logprobs(self) -> dict[str, Any] | None:
        return {"content": self.logprobs} if self.logprobs else None

"""OpenAI request shapes, validated before anything is queued.

Unknown fields are dropped (SDKs send extras), and fields that name URLs
(``api_base``, ``base_url``, …) are never followed: they are not part of these models,
so they never reach a backend. Types are strict where OpenAI's are (``stream`` must be a
boolean, not the string ``"true"``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from seadragon.wire_chat import (
    MAX_TOOLS,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
    check_chat,
    wire_content,
)

#: ``name``, ``name:tag`` or ``namespace/name:tag``; never a path or a host.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
MODEL_NAME = re.compile(rf"^(?!.*\.\.){_SEGMENT}(/{_SEGMENT})?$")
MAX_TOKENS_LIMIT = 131_072
#: Backends hold a seed in 64 bits; a larger one fails there, after queueing.
INT64 = 2**63

Number = StrictFloat | StrictInt


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _model_name(value: str) -> str:
    if not MODEL_NAME.match(value):
        raise ValueError("is not a valid model name")
    return value


Text = Annotated[StrictStr, AfterValidator(_no_nul)]
ModelName = Annotated[StrictStr, AfterValidator(_model_name)]
#: Embedding backends refuse an empty input.
NonEmptyText = Annotated[Text, Field(min_length=1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: ModelName
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Number, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS_LIMIT)] | None = None
    n: Annotated[StrictInt, Field(ge=1, le=1)] | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: StrictStr | Annotated[list[StrictStr], Field(max_length=4)] | None = None
    seed: Annotated[StrictInt, Field(ge=-INT64, lt=INT64)] | None = None
    presence_penalty: Annotated[Number, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[Number, Field(ge=-2, le=2)] | None = None
    user: Annotated[StrictStr, Field(max_length=256)] | None = None
    service_tier: Literal["auto", "default", "flex"] | None = None

    def backend_body(self) -> dict[str, Any]:
        """What a backend may see: known fields only, no Seadragon-only ones."""
        return self.model_dump(exclude_none=True, exclude={"service_tier", "user"})


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: StrictBool = False


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    # Parts stay loose here: ``check_chat`` names the exact part that is wrong.
    content: Text | list[dict[str, Any]] | None = None
    name: Annotated[Text, Field(max_length=64)] | None = None
    tool_calls: Annotated[list[ToolCall], Field(max_length=MAX_TOOLS)] | None = None
    tool_call_id: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    #: An assistant's earlier thinking, as Seadragon returns it (Ollama reads it back).
    reasoning_content: Text | None = None

    def text(self) -> str:
        """The text parts joined (images left out)."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""

    def wire(self) -> dict[str, Any]:
        """The message as backends receive it (OpenAI's shape, content normalised)."""
        out: dict[str, Any] = {"role": self.role, "content": wire_content(self.content)}
        if self.content is None and not self.tool_calls:
            out["content"] = ""
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [call.model_dump() for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.reasoning_content:
            out["reasoning_content"] = self.reasoning_content
        return out


def _legacy(value: object) -> None:
    if value is not None:
        raise ValueError("the legacy functions API is not supported; send tools and tool_choice")


def _unsupported(value: object) -> None:
    if value is not None:
        raise ValueError("is not supported by this gateway")


def _text_only(value: list[str] | None) -> list[str] | None:
    if value is not None and any(kind != "text" for kind in value):
        raise ValueError("only text output is supported by this gateway")
    return value


Legacy = Annotated[object, AfterValidator(_legacy)]
Unsupported = Annotated[object, AfterValidator(_unsupported)]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


class ChatRequest(_Request):
    messages: Annotated[list[Message], Field(min_length=1, max_length=4096)]
    max_completion_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS_LIMIT)] | None = None
    response_format: ResponseFormat | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Annotated[StrictInt, Field(ge=0, le=20)] | None = None
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    reasoning_effort: ReasoningEffort | None = None
    # Refused rather than dropped: a caller relying on them must not get plain text silently.
    functions: Legacy = None
    function_call: Legacy = None
    audio: Unsupported = None
    prediction: Unsupported = None
    web_search_options: Unsupported = None
    modalities: Annotated[list[StrictStr], AfterValidator(_text_only)] | None = None

    def check(self, max_image_bytes: int) -> None:
        """What pydantic cannot see (``InvalidRequest`` naming the field)."""
        check_chat(self, max_image_bytes)

    def backend_body(self) -> dict[str, Any]:
        body = self.model_dump(
            exclude_none=True,
            by_alias=True,
            exclude={"service_tier", "user", "messages", "modalities"},
        )
        body["messages"] = [m.wire() for m in self.messages]
        return body


class CompletionRequest(_Request):
    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=1)]
    echo: Literal[False] | None = None
    logprobs: None = None
    best_of: Annotated[StrictInt, Field(ge=1, le=1)] | None = None

    def backend_body(self) -> dict[str, Any]:
        body = super().backend_body()
        if isinstance(self.prompt, list):
            body["prompt"] = self.prompt[0]
        return body


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: ModelName
    input: NonEmptyText | Annotated[list[NonEmptyText], Field(min_length=1, max_length=2048)]
    encoding_format: Literal["float", "base64"] = "float"
    user: Annotated[StrictStr, Field(max_length=256)] | None = None
    service_tier: Literal["auto", "default", "flex"] | None = None

    @property
    def stream(self) -> bool:
        return False

    def backend_body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"service_tier", "user"})


for _model in (_Request, Message, ChatRequest, CompletionRequest):
    _model.model_rebuild()

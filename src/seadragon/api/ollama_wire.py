"""Ollama's native request shapes, validated before anything is queued.

As Ollama does, unknown top-level fields are ignored, and ``stream`` defaults to true
for ``/api/chat`` and ``/api/generate``. ``options`` are checked key by key: a key that
is not one of Ollama's is refused rather than dropped, and the hardware keys
(``num_gpu``, ``num_thread``, …) are the operator's (per-model defaults), not a caller's.
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
    StrictInt,
    StrictStr,
)

from seadragon.errors import InvalidRequest
from seadragon.wire import ModelName, Text

#: Options a request may set; the first group also has a standard OpenAI field.
SAMPLING_OPTIONS = frozenset(
    {"temperature", "top_p", "seed", "stop", "num_predict", "presence_penalty",
     "frequency_penalty"}
)  # fmt: skip
OLLAMA_ONLY_OPTIONS = frozenset(
    {"num_ctx", "top_k", "min_p", "typical_p", "repeat_penalty", "repeat_last_n", "mirostat",
     "mirostat_tau", "mirostat_eta", "num_keep", "tfs_z", "penalize_newline"}
)  # fmt: skip
OPERATOR_OPTIONS = frozenset(
    {"num_gpu", "num_thread", "main_gpu", "low_vram", "numa", "num_batch", "use_mmap",
     "use_mlock", "vocab_only", "logits_all", "embedding_only", "f16_kv"}
)  # fmt: skip
_BASE64 = re.compile(r"^[A-Za-z0-9+/\r\n]+={0,2}$")
#: How long a model stays loaded: seconds, or a Go duration such as ``5m`` / ``1h30m``.
_DURATION = re.compile(r"^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))*$")


def _options(value: dict[str, Any]) -> dict[str, Any]:
    # InvalidRequest, not ValueError: pydantic lets it through, so the error names the key.
    for key, item in value.items():
        field = f"options.{key}"
        if item is None:
            continue
        if key in OPERATOR_OPTIONS:
            raise InvalidRequest(
                f"{field} is set by the operator (per-model defaults), not by a request",
                param=field,
            )
        if key not in SAMPLING_OPTIONS | OLLAMA_ONLY_OPTIONS:
            raise InvalidRequest(f"{field} is not an Ollama option", param=field)
        if key == "stop":
            if not isinstance(item, list) or not all(isinstance(s, str) for s in item):
                raise InvalidRequest(f"{field} must be a list of strings", param=field)
        elif key == "penalize_newline":
            if not isinstance(item, bool):
                raise InvalidRequest(f"{field} must be a boolean", param=field)
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise InvalidRequest(f"{field} must be a number", param=field)
    return value


def _image(value: str) -> str:
    if len(value) < 8 or not _BASE64.match(value):
        raise ValueError("images must be base64-encoded")
    return value


def _keep_alive(value: str | int | float) -> str | int | float:
    if isinstance(value, str) and not _DURATION.match(value.strip()):
        raise ValueError("must be a number of seconds or a duration such as '5m'")
    return value


Options = Annotated[dict[str, Any], AfterValidator(_options)]
Image = Annotated[StrictStr, AfterValidator(_image)]
KeepAlive = Annotated[StrictStr | StrictInt | float, AfterValidator(_keep_alive)]
Images = Annotated[list[Image], Field(max_length=16)]


class _Native(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: ModelName
    options: Options | None = None
    keep_alive: KeepAlive | None = None


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    function: ToolFunction


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: Text = ""
    images: Images | None = None
    thinking: Text | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: Annotated[StrictStr, Field(max_length=64)] | None = None


Format = Literal["", "json"] | dict[str, Any]
Think = StrictBool | Literal["low", "medium", "high"]


class NativeChat(_Native):
    messages: Annotated[list[ChatMessage], Field(max_length=4096)] = Field(default_factory=list)
    stream: StrictBool = True
    format: Format | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    think: Think | None = None
    # Refused rather than dropped: no backend path returns token log-probabilities yet.
    logprobs: Literal[False] | None = None


class NativeGenerate(_Native):
    prompt: Text = ""
    suffix: Text | None = None
    system: Text | None = None
    template: Text | None = None
    context: Annotated[list[StrictInt], Field(max_length=131_072)] | None = None
    raw: StrictBool = False
    images: Images | None = None
    stream: StrictBool = True
    format: Format | None = None
    think: Think | None = None
    logprobs: Literal[False] | None = None


class NativeEmbed(_Native):
    input: Text | Annotated[list[Text], Field(min_length=1, max_length=2048)]
    truncate: StrictBool | None = None
    dimensions: Annotated[StrictInt, Field(ge=1, le=65_536)] | None = None


class NativeEmbeddings(_Native):
    """The legacy ``/api/embeddings``: one prompt, one vector."""

    prompt: Text = ""


# Model management -------------------------------------------------------------------


class _Named(BaseModel):
    """``model``, or the older ``name`` that some clients still send."""

    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = None
    name: StrictStr | None = None
    #: Which Ollama backend(s) to act on: a backend's name, or ``"all"``.
    backend: Annotated[StrictStr, Field(max_length=64)] | None = None

    @property
    def target(self) -> str:
        return self.model or self.name or ""


class ShowRequest(_Named):
    verbose: StrictBool = False


class PullRequest(_Named):
    insecure: StrictBool = False
    stream: StrictBool = True


class PushRequest(PullRequest):
    pass


class DeleteRequest(_Named):
    pass


class CopyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: StrictStr
    destination: StrictStr
    backend: Annotated[StrictStr, Field(max_length=64)] | None = None


class CreateRequest(_Named):
    """Passed through to Ollama as sent (minus ``backend``), after the name is checked."""

    model_config = ConfigDict(extra="allow")
    stream: StrictBool = True
    from_: StrictStr | None = Field(default=None, alias="from")


class UnloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: StrictStr
    backend: Annotated[StrictStr, Field(max_length=64)] | None = None


__all__ = [
    "ChatMessage",
    "CopyRequest",
    "CreateRequest",
    "DeleteRequest",
    "NativeChat",
    "NativeEmbed",
    "NativeEmbeddings",
    "NativeGenerate",
    "PullRequest",
    "PushRequest",
    "ShowRequest",
    "UnloadRequest",
]

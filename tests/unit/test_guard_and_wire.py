"""Request guards and request validation, below HTTP."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from seadragon.api.errors import validation_message
from seadragon.api.guard import json_depth_exceeds
from seadragon.wire import ChatRequest, CompletionRequest, EmbeddingRequest


@pytest.mark.parametrize(
    ("body", "limit", "exceeds"),
    [
        (b"[[[1]]]", 3, False),
        (b"[[[1]]]", 2, True),
        (json.dumps({"a": "[[[[[[[[[[" * 10}).encode(), 2, False),  # brackets in strings
        (b'{"a\\"[[[[": [[1]]}', 2, True),  # an escaped quote does not end the string
        (("[" * 40 + "]" * 40).encode(), 32, True),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 32, False),
    ],
)
def test_json_depth(body: bytes, limit: int, exceeds: bool) -> None:
    assert json_depth_exceeds(body, limit) is exceeds


def chat(**fields: object) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m"}, "messages"),
        (chat(messages=[]), "messages"),
        (chat(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(max_tokens=10**9), "max_tokens"),
        (chat(n=2), "n"),
        (chat(temperature=3), "temperature"),
        (chat(temperature="hot"), "temperature"),
        (chat(stream="true"), "stream"),
        (chat(messages=[{"role": "user", "content": "a\x00b"}]), "messages[0].content"),
        (chat(model="../x"), "model"),
        (chat(model="host/ns/m"), "model"),
        (chat(model="http://evil/"), "model"),
        (chat(model=7), "model"),
        (chat(tools=[{"type": "function", "function": {"name": "no spaces"}}]), "tools[0]"),
        (chat(tool_choice="sometimes"), "tool_choice"),
        (chat(functions=[{"name": "f"}]), "functions"),
    ],
)
def test_bad_chat_requests_name_the_param(body: dict[str, object], param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatRequest.model_validate(body)
    _, named = validation_message(list(caught.value.errors()))
    assert named is not None and named.startswith(param)


def test_url_fields_never_reach_a_backend() -> None:
    request = ChatRequest.model_validate(
        chat(api_base="http://127.0.0.1:1/", base_url="http://x/", user="u", service_tier="flex")
    )
    body = request.backend_body()
    assert "api_base" not in body and "base_url" not in body
    assert "user" not in body and "service_tier" not in body


def test_content_parts_become_text() -> None:
    request = ChatRequest.model_validate(
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                }
            ]
        )
    )
    assert request.backend_body()["messages"] == [{"role": "user", "content": "ab"}]


def test_completion_and_embedding_shapes() -> None:
    completion = CompletionRequest.model_validate({"model": "m", "prompt": ["hi"]})
    assert completion.backend_body()["prompt"] == "hi"
    with pytest.raises(ValidationError):
        CompletionRequest.model_validate({"model": "m", "prompt": ["a", "b"]})
    embedding = EmbeddingRequest.model_validate({"model": "e", "input": ["a", "b"]})
    assert embedding.backend_body() == {
        "model": "e",
        "input": ["a", "b"],
        "encoding_format": "float",
    }
    with pytest.raises(ValidationError):
        EmbeddingRequest.model_validate({"model": "e", "input": []})

"""Native Ollama requests as job bodies, and the Ollama extension on either backend kind."""

from __future__ import annotations

import pytest

from seadragon.api import ollama_translate as translate
from seadragon.api.ollama_wire import NativeChat, NativeGenerate
from seadragon.errors import InvalidRequest
from seadragon.ollama_extension import merge_extension, refuse_extension

PNG = "iVBORw0KGgoAAAANSUhEUg=="


def test_chat_maps_options_images_tools_and_format() -> None:
    request = NativeChat.model_validate(
        {
            "model": "llava",
            "messages": [
                {"role": "user", "content": "what is this?", "images": [PNG]},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}]},
                {"role": "tool", "content": "cold", "tool_name": "weather"},
            ],
            "options": {"temperature": 0.1, "num_predict": -1, "top_k": 3, "stop": ["\n"]},
            "keep_alive": "5m",
            "format": {"type": "object"},
            "tools": [{"type": "function", "function": {"name": "weather"}}],
        }
    )  # fmt: skip
    mapped = translate.chat(request)
    body = mapped.body
    assert (mapped.kind, mapped.answer) == ("chat", "chat")
    assert body["temperature"] == 0.1 and body["stop"] == ["\n"] and "max_tokens" not in body
    assert body["ollama"] == {"options": {"top_k": 3}, "keep_alive": "5m"}
    image = body["messages"][0]["content"][1]["image_url"]["url"]
    assert image == f"data:image/png;base64,{PNG}"
    call = body["messages"][1]["tool_calls"][0]
    assert call["function"] == {"name": "weather", "arguments": '{"city":"Oslo"}'}
    assert body["messages"][2]["tool_call_id"] == call["id"]
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}


def test_a_tool_result_without_its_call_is_refused() -> None:
    request = NativeChat.model_validate(
        {"model": "m", "messages": [{"role": "tool", "content": "x", "tool_name": "t"}]}
    )
    with pytest.raises(InvalidRequest) as refused:
        translate.chat(request)
    assert refused.value.param == "messages[0].tool_name"


def test_generate_is_a_chat_unless_raw_suffix_or_template() -> None:
    plain = translate.generate(NativeGenerate(model="m", prompt="hi", system="be brief"))
    assert plain.kind == "chat" and plain.body["messages"][0] == {
        "role": "system", "content": "be brief"
    }  # fmt: skip
    raw = translate.generate(NativeGenerate(model="m", prompt="def f(", raw=True))
    assert raw.kind == "completion" and "ollama" not in raw.body
    fim = translate.generate(NativeGenerate(model="m", prompt="a", suffix="b"))
    assert fim.kind == "completion" and fim.body["suffix"] == "b"
    templated = translate.generate(NativeGenerate(model="m", prompt="a", template="{{ .Prompt }}"))
    assert templated.body["ollama"] == {"raw": False, "template": "{{ .Prompt }}"}


def test_the_extension_is_merged_for_ollama_and_refused_by_name_elsewhere() -> None:
    body = {"model": "m", "ollama": {"options": {"num_ctx": 4096}, "keep_alive": 0}}
    payload = merge_extension({"model": "m", "options": {"num_gpu": 1}, "keep_alive": "1h"}, body)
    assert payload == {"model": "m", "options": {"num_gpu": 1, "num_ctx": 4096}, "keep_alive": 0}
    with pytest.raises(InvalidRequest) as refused:
        refuse_extension(body, "vllm")
    assert refused.value.param == "keep_alive" and "vllm" in refused.value.message
    assert refuse_extension({"model": "m", "ollama": {}}, "vllm") == {"model": "m"}

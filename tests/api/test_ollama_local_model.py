"""Ollama clients through Seadragon to the bundled model, an OpenAI-kind backend: every
answer is translated, so this is the real translation path end to end."""

from __future__ import annotations

from typing import Any

import ollama
import pytest
from langchain_ollama import ChatOllama

from fakes.ollama_server import FakeOllama
from seadragon.backends.local import MODEL_NAME
from services import require_local_model
from tests.api.conftest import Gateway
from tests.api.test_local_model import free_port

pytestmark = pytest.mark.local_model
QUESTION = [{"role": "user", "content": "What is the capital of France? One word."}]
GREEDY = {"temperature": 0, "num_predict": 12}


@pytest.fixture
async def gateway(gateway_factory: Any) -> Gateway:
    require_local_model()
    found: Gateway = await gateway_factory(
        [], models={MODEL_NAME}, local_model="on", local_model_port=free_port()
    )
    return found


def client(gateway: Gateway, who: str = "alice") -> ollama.AsyncClient:
    return ollama.AsyncClient(host=gateway.url, headers=gateway.headers(who), timeout=120)


async def test_the_ollama_client_against_the_local_model(gateway: Gateway) -> None:
    ol = client(gateway)
    assert MODEL_NAME in [m.model for m in (await ol.list()).models]

    answer = await ol.chat(model=MODEL_NAME, messages=QUESTION, options=GREEDY, stream=False)
    text = answer.message.content or ""
    assert text.strip() and answer.done and answer.done_reason in ("stop", "length")
    assert answer.prompt_eval_count and answer.eval_count and answer.eval_count <= 12

    parts = [
        p
        async for p in await ol.chat(
            model=MODEL_NAME, messages=QUESTION, options=GREEDY, stream=True
        )
    ]
    assert len([p for p in parts if p.message.content]) > 1  # token by token
    assert "".join(p.message.content or "" for p in parts) == text  # greedy: the same answer
    assert parts[-1].done and parts[-1].eval_count == answer.eval_count

    generated = await ol.generate(model=MODEL_NAME, prompt="Name a colour.", options=GREEDY)
    assert generated.response.strip() and generated.eval_count
    streamed = [
        p
        async for p in await ol.generate(
            model=MODEL_NAME, prompt="Name a colour.", options=GREEDY, stream=True
        )
    ]
    assert "".join(p.response for p in streamed) == generated.response
    raw = await ol.generate(model=MODEL_NAME, prompt="The sky is", raw=True, options=GREEDY)
    assert raw.response.strip()

    embedded = await ol.embed(model=MODEL_NAME, input=["hello", "world"])
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) > 0
    assert MODEL_NAME in [m.model for m in (await ol.ps()).models]
    shown = await ol.show(MODEL_NAME)
    assert shown.capabilities == ["completion"]


async def test_what_an_openai_backend_cannot_do_is_refused_by_name(gateway: Gateway) -> None:
    ol = client(gateway)
    for kwargs, field in (
        ({"options": {"top_k": 5}}, "options.top_k"),
        ({"keep_alive": "5m"}, "keep_alive"),
    ):
        with pytest.raises(ollama.ResponseError) as refused:
            await ol.chat(model=MODEL_NAME, messages=QUESTION, **kwargs)
        assert refused.value.status_code == 400 and field in refused.value.error
    with pytest.raises(ollama.ResponseError) as refused:
        await ol.generate(model=MODEL_NAME, prompt="x", template="{{ .Prompt }}")
    assert refused.value.status_code == 400 and "template" in refused.value.error
    admin = client(gateway, "root")
    with pytest.raises(ollama.ResponseError) as no_pull:
        await admin.pull("llama3")
    assert no_pull.value.status_code == 400 and "Ollama backend" in no_pull.value.error


async def test_langchain_chat_ollama_invoke_and_stream(gateway: Gateway) -> None:
    llm = ChatOllama(
        model=MODEL_NAME,
        base_url=gateway.url,
        temperature=0,
        num_predict=12,
        client_kwargs={"headers": gateway.headers()},
    )
    answer = await llm.ainvoke("What is the capital of France? One word.")
    assert str(answer.content).strip()
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] > 0
    pieces = [
        str(chunk.content)
        async for chunk in llm.astream("What is the capital of France? One word.")
    ]
    assert len([p for p in pieces if p]) > 1 and "".join(pieces) == answer.content
    sync_answer = llm.invoke("What is the capital of France? One word.")
    assert sync_answer.content == answer.content


async def test_langchain_chat_ollama_against_an_ollama_backend(gateway_factory: Any) -> None:
    with FakeOllama(models=["llama3:latest"], tokens=3) as fake:
        backend = {"name": "gpu", "url": fake.url, "kind": "ollama"}
        gateway = await gateway_factory([backend], models={"llama3"})
        llm = ChatOllama(
            model="llama3", base_url=gateway.url, client_kwargs={"headers": gateway.headers()}
        )
        answer = await llm.ainvoke("hi there")
        assert answer.content == "tok0 tok1 tok2"
        assert answer.usage_metadata == {"input_tokens": 2, "output_tokens": 3, "total_tokens": 5}
        pieces = [str(c.content) for c in llm.stream("hi there")]
        assert "".join(pieces) == "tok0 tok1 tok2"

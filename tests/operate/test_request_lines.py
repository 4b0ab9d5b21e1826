"""One log line per finished request, as JSON with ``log_format=json``, from ``seadragon
serve`` as an operator runs it; never the prompt, the answer or the key."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from bench.processes import start_stack

SECRET_PROMPT = "my-password-is-hunter2"


async def test_json_line_per_request(tmp_path: Path) -> None:
    settings = {"SEADRAGON_LOG_FORMAT": "json", "SEADRAGON_LOG_LEVEL": "info"}
    async with (
        start_stack("memory", str(tmp_path), settings=settings) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        body = {"model": "bench", "messages": [{"role": "user", "content": SECRET_PROMPT}]}
        for rid, stream in (("line-1", False), ("line-2", True)):
            headers = {**stack.auth, "X-Request-Id": rid}
            response = await http.post(
                stack.gateway_chat, headers=headers, json=body | {"stream": stream}
            )
            assert response.status_code == 200
            if not stream:
                answer = response.json()["choices"][0]["message"]["content"]
        missing = await http.post(
            stack.gateway_chat, headers={**stack.auth, "X-Request-Id": "line-3"},
            json=body | {"max_tokens": -5},
        )  # fmt: skip
        assert missing.status_code == 400
    log = stack.log("gateway0")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(lines) == len(log.strip().splitlines()), log[-2000:]  # every line is JSON
    finished = {line["request_id"]: line for line in lines if line["message"] == "request finished"}
    assert set(finished) == {"line-1", "line-2"}  # a refused body never reached the queue
    line = finished["line-2"]
    assert line["level"] == "info" and line["logger"] == "seadragon.requests"
    assert (line["status"], line["http_status"], line["model"]) == ("ok", 200, "bench")
    assert (line["entry_band"], line["dispatch_band"], line["backend"]) == ("high", "high", "fake")
    assert line["route"] == "/v1/chat/completions" and line["stream"] is True
    assert isinstance(line["user_id"], int) and isinstance(line["key_id"], int)
    assert line["wait_ms"] >= 0 and line["run_ms"] >= 0 and line["ttft_ms"] >= 0
    assert line["completion_tokens"] > 0
    assert SECRET_PROMPT not in log and stack.key not in log
    assert len(answer) > 10 and answer not in log

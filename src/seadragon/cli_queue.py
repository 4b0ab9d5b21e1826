"""``seadragon queue …``: watch and control a running gateway's queue from the shell.

The queue lives in the gateway (memory mode) or behind it (RabbitMQ), so these commands
call the gateway's admin API (``/api/queue/…``) with an administrator's API key:
``--api-key`` or ``SEADRAGON_API_KEY``; ``--url`` or ``SEADRAGON_URL`` names the
gateway (default: this configuration's ``host`` and ``port``). Every action is written
to the queue audit log under the key's user. Exit codes as for every command: 1 the
gateway refused or could not be reached, 2 bad usage.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import typer
from rich.table import Table

from seadragon.cli_console import out
from seadragon.cli_gateway import GatewayClient, KeyOpt, UrlOpt

queue_app = typer.Typer(help="Watch and control a running gateway's queue.", no_args_is_help=True)

BandOpt = Annotated[str | None, typer.Option("--band", help="One band (default: every band).")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Only this model.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]
TIMEOUT_S = 15.0


def call(method: str, path: str, url: str | None, key: str | None, **kwargs: Any) -> Any:
    """One admin API call; the gateway's error message becomes a clean exit 1."""
    params = kwargs.pop("params", None)
    if params:
        path = f"{path}?{urlencode(params)}"
    return GatewayClient(url, key).call(method, path, kwargs.get("json"))


def _since(stamp_us: int) -> str:
    return datetime.fromtimestamp(stamp_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pause_label(pause: dict[str, Any]) -> str:
    band = pause.get("band") or "every band"
    return band + (f" of {pause['model']}" if pause.get("model") else "")


def _print_switches(data: dict[str, Any]) -> None:
    for pause in data.get("paused", []):
        out.print(f"paused: {_pause_label(pause)} since {_since(pause['since_us'])}")
    for drain in data.get("draining", []):
        out.print(f"draining: {drain['target']} since {_since(drain['since_us'])}")
    if not data.get("paused") and not data.get("draining"):
        out.print("nothing paused or draining")


@queue_app.command("status")
def status(url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Bands, pauses, drains and workers of the queue."""
    data = call("GET", "/api/queue/status", url, key)
    if as_json:
        out.print_json(json.dumps(data))
        return
    bands = Table("band", "queued", "max", "oldest wait (s)")
    for band in data["bands"]:
        oldest = band["oldest_wait_s"]
        bands.add_row(
            band["name"], str(band["depth"]), str(band["max_depth"]),
            "-" if oldest is None else f"{oldest:.1f}",
        )  # fmt: skip
    out.print(bands)
    workers = Table("worker", "backend", "busy", "models", "state")
    for worker in data["workers"]:
        state = "draining" if worker.get("draining") else "serving"
        if not worker["reachable"]:
            state += ", unreachable"
        workers.add_row(
            worker["id"], worker["backend"], f"{worker['busy']}/{worker['slots']}",
            ", ".join(worker["models"]), state,
        )  # fmt: skip
    out.print(workers)
    _print_switches(data)


def _switched(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(data))
        return
    what = data.get("target") or _pause_label(data)
    out.print(f"{data['action']}: {what}", highlight=False)
    _print_switches(data)


@queue_app.command("pause")
def pause(
    band: BandOpt = None, model: ModelOpt = None, url: UrlOpt = None, key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Hold a band (or every band), optionally of one model: its requests wait and age."""
    body = {"band": band, "model": model}
    _switched(call("POST", "/api/queue/pause", url, key, json=body), as_json)


@queue_app.command("resume")
def resume(
    band: BandOpt = None, model: ModelOpt = None, url: UrlOpt = None, key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Undo the pause of exactly that band and model."""
    body = {"band": band, "model": model}
    _switched(call("POST", "/api/queue/resume", url, key, json=body), as_json)


@queue_app.command("drain")
def drain(
    target: Annotated[str, typer.Argument(help="A backend name or a worker id.")],
    url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """A backend or worker takes no new request and finishes those it runs."""
    _switched(call("POST", "/api/queue/drain", url, key, json={"target": target}), as_json)


@queue_app.command("undrain")
def undrain(
    target: Annotated[str, typer.Argument(help="A backend name or a worker id.")],
    url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """The backend or worker takes work again."""
    _switched(call("POST", "/api/queue/undrain", url, key, json={"target": target}), as_json)


@queue_app.command("clear")
def clear(band: BandOpt = None, url: UrlOpt = None, key: KeyOpt = None) -> None:
    """End every queued request (of one band, or all); running ones finish."""
    data = call("POST", "/api/queue/clear", url, key, json={"band": band})
    out.print(f"cleared {data['cleared']} request(s) from {band or 'every band'}")


@queue_app.command("audit")
def audit(
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 20,
    url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """The queue control audit log: who did what, when, to what."""
    data = call("GET", "/api/queue/audit", url, key, params={"limit": limit})
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table("when", "who", "action", "band", "model", "target")
    for row in data["data"]:
        who = row["user_name"] or str(row["user_id"] or "-")
        target = row["target"] or ("" if row["cleared"] is None else f"{row['cleared']} cleared")
        table.add_row(row["at"], who, row["action"], row["band"] or "", row["model"] or "", target)
    out.print(table)

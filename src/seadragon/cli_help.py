"""What ``seadragon --version`` and ``seadragon serve --help`` tell an operator."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from seadragon.config import Settings

#: The settings a first-time operator looks for, with what they do.
MAIN_SETTINGS = (
    ("host", "address to listen on"),
    ("port", "port to listen on"),
    ("data_dir", "SQLite file and generated secret key"),
    ("database_url", "e.g. postgresql+asyncpg://user:pw@host/db"),
    ("queue", "memory (in-process) or rabbitmq"),
    ("rabbitmq_url", "broker, when queue=rabbitmq"),
    ("ollama_url", "one Ollama backend; 'backends' in the config file for more"),
    ("local_model", "bundled SmolLM2: auto, on or off"),
    ("default_model", "model a new web chat starts with (unset: the most used)"),
    ("web_band", "priority band of web-chat sessions"),
    ("api_key_default_band", "band of new API keys"),
    ("aging_interval_s", "seconds in a band before moving up one"),
    ("max_queue_wait_s", "a request not started by then gets 503"),
    ("log_level", "debug, info, warning or error"),
)

_SHOWN_DEFAULTS = {"database_url": "SQLite in data_dir"}


def seadragon_version() -> str:
    try:
        return version("seadragon")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def serve_epilog() -> str:
    """The main settings with their defaults, one per paragraph (rich keeps them apart)."""
    lines = []
    for name, meaning in MAIN_SETTINGS:
        field = Settings.model_fields[name]
        default = _SHOWN_DEFAULTS.get(name) or field.get_default(call_default_factory=True)
        if default is None:
            default = "unset"
        elif name == "data_dir":
            default = f"./{default}"
        lines.append(f"SEADRAGON_{name.upper()} = {default} : {meaning}")
    return (
        "Main settings (environment variables, or keys of the TOML file named by "
        "SEADRAGON_CONFIG), with their defaults:\n\n" + "\n\n".join(lines)
    )


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"seadragon {seadragon_version()}")
        raise typer.Exit()

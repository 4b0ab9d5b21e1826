"""Command line for running a fake backend as its own process."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import uvicorn

from . import FakeConfig, FakeServer


def serve_main(factory: Callable[[FakeConfig], FakeServer], description: str) -> None:
    """Command line for running a fake as its own process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--models", default="fake-model", help="comma-separated")
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--service-time", type=float, default=0.0)
    parser.add_argument("--error-after", type=int, default=None)
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--embed-dim", type=int, default=8)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    knobs = {k: v for k, v in vars(args).items() if k not in ("host", "port", "no_embeddings")}
    knobs["models"] = [m for m in args.models.split(",") if m]
    fake = factory(FakeConfig(**knobs, embeddings=not args.no_embeddings))
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level="warning", access_log=False)

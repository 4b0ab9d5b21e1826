"""The peers Seadragon is compared with, each in its own throwaway virtualenv.

Neither is a dependency of Seadragon and none of their code is in this repository: the
bench command installs them from PyPI at the pinned versions below into
``$SEADRAGON_BENCH_PEERS`` (default: ``seadragon-bench-peers`` in the temporary
directory), once, and reuses the virtualenv while its pin is unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Peer:
    name: str
    requirement: str
    command: str  # the console script the peer's package installs

    @property
    def version(self) -> str:
        return self.requirement.split("==", 1)[1]


LITELLM = Peer("litellm", "litellm[proxy]==1.108.0", "litellm")
# An Ollama-native proxy with a priority queue (four tiers, aging): the Ollama-side peer.
BASTION = Peer("bastion", "bastion-broker==0.6.0", "bastion")
PEERS = (LITELLM, BASTION)


def peers_dir() -> Path:
    default = Path(tempfile.gettempdir()) / "seadragon-bench-peers"
    return Path(os.environ.get("SEADRAGON_BENCH_PEERS", default))


def install(peer: Peer) -> Path:
    """The peer's virtualenv, created and installed if it is not there yet."""
    venv = peers_dir() / peer.name
    marker = venv / ".installed"
    if marker.exists() and marker.read_text() == peer.requirement:
        return venv
    print(f"installing {peer.requirement} into {venv} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, peer.requirement], check=True)
    marker.write_text(peer.requirement)
    return venv


def executable(peer: Peer) -> Path:
    return install(peer) / "bin" / peer.command


if __name__ == "__main__":
    for p in PEERS:
        print(executable(p))

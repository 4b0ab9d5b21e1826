"""Private files: the data directory (0700), the SQLite database and the secret (0600).

They hold password hashes, key digests and session ids, so nobody but the account that
runs Seadragon may read them, whatever the umask.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("seadragon")

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by its owner only.

    An existing directory is left as it is (it may be shared on purpose), with a
    warning if others can read it.
    """
    if path.is_dir():
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s is readable by other users; chmod 700 it", path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        return  # another process made it at the same moment
    os.chmod(path, DIR_MODE)  # mkdir's mode is subject to the umask


def private_file(path: Path) -> None:
    """Make ``path`` exist, readable and writable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
        return
    os.close(fd)

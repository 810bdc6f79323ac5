"""File safety for on-disk secrets: private directories, 0600 files, refusal to use loose ones."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from encord_gateway.vault.errors import InsecureFileError

# Any bit for group or others counts: a group-writable key file is as bad as a readable one,
# because whoever can replace it can make the gateway seal a vault under a key they know.
_LOOSE_BITS = stat.S_IRWXG | stat.S_IRWXO


def ensure_private_directory(path: Path) -> None:
    """Create `path` (and parents) owner-only when missing; an existing directory is left as is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def ensure_private_file(path: Path) -> None:
    """Create an empty 0600 file when missing, so that nothing else ever creates it with the umask."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    fsync_directory(path.parent)


def check_private_file(path: Path, what: str) -> None:
    """Refuse a file that group or others may access, naming it and the command that fixes it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & _LOOSE_BITS:
        raise InsecureFileError(
            f"{what} {path} is accessible by group or others (mode {mode:04o}); "
            f"refusing to use it. Fix with: chmod 600 {path}"
        )


def write_private_file_once(path: Path, data: bytes) -> bool:
    """Atomically create `path` (0600) holding `data`; False when it already exists.

    The bytes go to a temporary file first and are linked into place, so a reader never sees a
    half-written key, and of two racing creators exactly one wins.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        fsync_directory(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def fsync_directory(path: Path) -> None:
    """Make a directory entry durable (a new file survives power loss only once its directory does)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Regenerate README.md's operations table from the descriptors and the catalogue (run by `make docs`)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from encord_gateway.operations import overview
from encord_gateway.operations.catalog import load_catalog
from encord_gateway.operations.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step, so that an interrupted run leaves the old README whole."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main() -> int:
    text = README.read_text(encoding="utf-8")
    try:
        section = overview.generated_section(load_catalog(), load_catalogue())
        updated = overview.replace_readme_section(text, section)
    except ValueError as exc:
        print(f"gendocs: {exc}", file=sys.stderr)
        return 1
    if updated == text:
        print("README.md: the operations table is up to date")
        return 0
    write_atomically(README, updated)
    print("README.md: the operations table was regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

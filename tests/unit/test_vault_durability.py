"""KillDuringWritesLosesNothing: every write a SIGKILLed writer acknowledged is there after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from encord_gateway.vault import Vault, VaultConfig

# The child alternates API-key registrations and generated SSH keys and prints "<n> <id>" only after
# the vault call returned, i.e. after the write was acknowledged as durable.
WRITER = """
import sys
from pathlib import Path
from encord_gateway.vault import Vault, VaultConfig

vault = Vault.open(Path(sys.argv[1]), VaultConfig())
n = 0
while True:
    if n % 2:
        info = vault.generate_org_key(f"org-{n}")
        print(n, info.credential_id, flush=True)
    else:
        info = vault.register_resource_api_key("acme", "dataset", f"d{n}", f"made-up-key-{n}", ["dataset.read"])
        print(n, info.credential_id, flush=True)
    n += 1
"""

ACKNOWLEDGED_BEFORE_KILL = 60


def test_kill_during_writes_loses_nothing(tmp_path: Path) -> None:
    vault_dir = tmp_path / "vault"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(vault_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    acknowledged: dict[int, str] = {}
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    try:
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            n, credential_id = line.decode().split()
            acknowledged[int(n)] = credential_id
    finally:
        os.kill(child.pid, signal.SIGKILL)  # mid-write, most likely: it writes in a tight loop
        child.wait(10)
    # Whatever complete lines were already in the pipe were acknowledged too.
    for line in child.stdout.read().decode().splitlines(keepends=True):
        if line.endswith("\n"):
            n, credential_id = line.split()
            acknowledged[int(n)] = credential_id
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, child.stderr.read().decode() if child.stderr else ""

    with Vault.open(vault_dir, VaultConfig()) as vault:
        assert not vault.status().sealed
        stored = {c.credential_id for c in vault.list_credentials(page_size=1000).credentials}
        assert set(acknowledged.values()) <= stored
        for n, credential_id in acknowledged.items():
            if n % 2:
                assert vault.signer_for_credential(credential_id).public_key_hex
            else:
                credential = vault.api_key_for("acme", "dataset", f"d{n}", "dataset.read")
                assert credential is not None
                assert credential.credential_id == credential_id
                assert credential.authorization_header() == f"made-up-key-{n}"
        vault.generate_org_key("after-the-crash")  # and it takes new writes

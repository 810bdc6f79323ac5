"""The cost of resolving and using a credential: vault decrypt (cold), resolver (warm), and signing.

Measured in-process on a temporary SQLite vault, so the numbers are the gateway's own CPU cost per
signed upstream call, without any network. Each figure is the median of several timed batches.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.upstream import signing
from encord_gateway.upstream.credentials import CredentialResolver
from encord_gateway.vault.config import VaultConfig
from encord_gateway.vault.credentials import Vault

ORGANISATION = "bench-org"
DATASET = "00000000-0000-0000-0000-0000000000d5"
BODY = signing.encode_body(
    {
        "query_type": "project",
        "query_method": "GET",
        "values": {"uid": None, "payload": {"include_labels_metadata": False}},
    }
)
TARGET = "/v2/public/projects?titleLike=%25cars%25&includeOrgAccess=False"
REPEATS = 7


def per_call_microseconds(action: Callable[[], object], calls: int) -> float:
    """Median over REPEATS batches of `calls` calls, in microseconds per call."""
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(calls):
            action()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def async_per_call_microseconds(action: Callable[[], Awaitable[object]], calls: int) -> float:
    """As `per_call_microseconds`, for an awaitable action, on one event loop."""

    async def timed() -> float:
        samples = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            for _ in range(calls):
                await action()
            samples.append((time.perf_counter() - started) / calls * 1e6)
        return statistics.median(samples)

    return asyncio.run(timed())


def measure() -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory(prefix="encord-gateway-bench-vault-") as directory:
        vault = Vault.open(Path(directory) / "vault", VaultConfig())
        try:
            key = Ed25519PrivateKey.generate()  # made now, gone with the temporary directory
            vault.add_org_key(ORGANISATION, signing.private_key_to_openssh(key))
            vault.register_resource_api_key(ORGANISATION, "dataset", DATASET, "k" * 40, ["dataset.read"])
            signer = vault.signer_for_org(ORGANISATION)
            resolver = CredentialResolver(vault)
            created = int(time.time())

            async def warm_signed_v1() -> object:
                credential = await resolver.resolve(ORGANISATION)
                assert credential.signer is not None
                return signing.v1_authorization(credential.signer, BODY)

            async def resolve() -> object:
                return await resolver.resolve(ORGANISATION)

            return [
                ("vault decrypt + key load (cold, signer_for_org)", per_call_microseconds(lambda: vault.signer_for_org(ORGANISATION), 200)),
                ("api key lookup (cold, api_key_for)", per_call_microseconds(lambda: vault.api_key_for(ORGANISATION, "dataset", DATASET, "dataset.read"), 200)),
                ("resolver, warm (cached credential)", async_per_call_microseconds(resolve, 20000)),
                ("v1 signature (SHA-256 + Ed25519)", per_call_microseconds(lambda: signing.v1_authorization(signer, BODY), 2000)),
                ("v2 signature (digest + base + Ed25519)", per_call_microseconds(lambda: signing.v2_signature_headers(signer, "GET", TARGET, b"", created), 2000)),
                ("resolve + v1 sign, warm (per signed call)", async_per_call_microseconds(warm_signed_v1, 2000)),
            ]  # fmt: skip
        finally:
            asyncio.run(resolver.close())
            vault.close()


def render(rows: list[tuple[str, float]]) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [f"{'credential cost':<{width}}  µs/call", "-" * (width + 9)]
    lines += [f"{name:<{width}}  {value:7.1f}" for name, value in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(measure()))

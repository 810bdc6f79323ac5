"""One recorder and one gateway for the wire-equality suite, sharing one organisation key with the SDK.

The gateway is prepared as the integration suite prepares its gateways (`add_organisation`,
`launch_gateway` from tests/integration/conftest.py, loaded here by path: pytest imports every
conftest under the same module name, so it cannot simply be imported), except that its upstream is
the recorder, which forwards to the session's sandbox. Resource API keys reach its vault through
the CLI (`vault add-api-key`), as an operator registers them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
from encord import EncordUserClient
from wire_harness import WireSides
from wire_recorder import RecordingUpstream

if TYPE_CHECKING:
    from conftest import Sandbox

INTEGRATION_CONFTEST = Path(__file__).resolve().parent.parent / "integration" / "conftest.py"


def _gateway_helpers() -> ModuleType:
    """tests/integration/conftest.py as a plain module (its fixtures stay unregistered here)."""
    name = "integration_gateway_helpers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, INTEGRATION_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def recorder(sandbox: Sandbox) -> Iterator[RecordingUpstream]:
    upstream = RecordingUpstream(sandbox.url).start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="session")
def wire(
    sandbox: Sandbox, recorder: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WireSides]:
    """The SDK and a gateway, both signing with one fresh sandbox user's key, both sending to the recorder."""
    helpers = _gateway_helpers()
    directory = tmp_path_factory.mktemp("wire")
    data_dir = directory / "data"
    data_dir.mkdir()
    tenant = helpers.add_organisation(sandbox, directory, data_dir, f"wire-{uuid.uuid4().hex[:8]}")
    # The suite proves administration RPCs too (members, groups, grants), which need `administer` on top of
    # the read/write that `token issue --org` grants.
    policy = {"grants": [{"organisation": tenant.organisation, "resources": ["*"],
                          "rights": ["read", "write", "administer"]}]}  # fmt: skip
    widened = helpers.run_cli("caller", "set-policy", "--name", f"svc-{tenant.organisation}", "--policy-file", "-",
                              "--data-dir", str(data_dir), input=json.dumps(policy))  # fmt: skip
    assert widened.returncode == 0, widened.stderr
    gateway = helpers.launch_gateway(recorder.url, directory, data_dir, [tenant])

    def register_api_key(resource_type: str, resource_hash: str, api_key: str, scopes: Sequence[str]) -> None:
        """`encord-gateway vault add-api-key`, the key on standard input (never on the command line)."""
        added = helpers.run_cli(
            "vault", "add-api-key", "--org", tenant.organisation, "--resource-type", resource_type,
            "--resource", resource_hash, "--scopes", ",".join(scopes), "--vault-dir", str(data_dir / "vault"),
            input=api_key,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr

    try:
        with gateway.channel() as channel:
            yield WireSides(
                sdk=EncordUserClient.create_with_ssh_private_key(tenant.user.openssh, domain=recorder.url),
                channel=channel,
                metadata=gateway.auth_metadata,
                public_key_hex=tenant.user.public_key_hex,
                recorder=recorder,
                register_api_key=register_api_key,
            )
    finally:
        gateway.stop()

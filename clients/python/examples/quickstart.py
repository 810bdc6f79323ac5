"""The Python client in a few lines: create a project, read it, list projects page by page, stream them, read an error.

    ENCORD_GATEWAY_TARGET=127.0.0.1:50051 ENCORD_GATEWAY_TOKEN=egw_... python quickstart.py [TITLE]

Prints one JSON object per step. Exit code 0 when every step behaved as expected.
"""

import json
import sys
import uuid

from encord_gateway_client import Client, NotFound


def main() -> int:
    title = sys.argv[1] if len(sys.argv) > 1 else f"quickstart-{uuid.uuid4().hex[:8]}"
    with Client.from_env() as gateway:  # ENCORD_GATEWAY_TARGET, _TOKEN, _ORGANISATION, _TIMEOUT, TLS files
        created = gateway.project.create_project(title=title, description="made by quickstart.py")
        print(json.dumps({"step": "create", "project_hash": created.project_hash}))

        project = gateway.project.get_project(project_hash=created.project_hash, timeout=10)
        print(json.dumps({"step": "get", "title": project.title}))

        # iter_... follows next_page_token for you; page_size only sets how many come per call.
        listed = [p.project_hash for p in gateway.project.iter_list_projects(title_like=f"{title}%", page_size=1)]
        print(json.dumps({"step": "list", "project_hashes": listed}))

        streamed = [p.project_hash for p in gateway.project.stream_projects(title_like=f"{title}%")]
        print(json.dumps({"step": "stream", "project_hashes": streamed}))

        try:
            gateway.project.get_project(project_hash=str(uuid.uuid4()))
        except NotFound as error:  # every error is a GatewayError subclass carrying google.rpc.ErrorInfo
            print(
                json.dumps({"step": "error", "code": error.code.name, "reason": error.reason, "domain": error.domain})
            )
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())

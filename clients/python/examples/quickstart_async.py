"""The asyncio client: the same calls, awaited; paged lists and streams are async iterators.

ENCORD_GATEWAY_TARGET=127.0.0.1:50051 ENCORD_GATEWAY_TOKEN=egw_... python quickstart_async.py [TITLE]
"""

import asyncio
import json
import sys
import uuid

from encord_gateway_client import AsyncClient, GatewayError


async def main() -> int:
    title = sys.argv[1] if len(sys.argv) > 1 else f"quickstart-async-{uuid.uuid4().hex[:8]}"
    async with AsyncClient.from_env() as gateway:
        created = await gateway.project.create_project(title=title)
        project = await gateway.project.get_project(project_hash=created.project_hash)
        print(json.dumps({"step": "get", "project_hash": project.project_hash, "title": project.title}))

        listed = [p.project_hash async for p in gateway.project.iter_list_projects(title_like=f"{title}%", page_size=1)]
        streamed = [p.project_hash async for p in gateway.project.stream_projects(title_like=f"{title}%")]
        print(json.dumps({"step": "list", "listed": listed, "streamed": streamed}))

        try:
            await gateway.dataset.get_dataset(dataset_hash="not-a-uuid")
        except GatewayError as error:
            print(
                json.dumps(
                    {
                        "step": "error",
                        "code": error.code.name,
                        "reason": error.reason,
                        "fields": [f for f, _ in error.field_violations],
                    }
                )
            )
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

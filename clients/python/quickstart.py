"""Calling the Encord Gateway from a Python service over gRPC: create, read (cached), list, and read an error.

    ENCORD_GATEWAY_TOKEN=egw_... python clients/python/quickstart.py --target 127.0.0.1:50051

The stubs come from this repository's protos (`make proto` generates them into the `encord_gateway`
package); a service outside the repository generates its own from `protos/` with grpcio-tools.
Reading error details needs `grpcio-status` (google.rpc.Status from the call's trailers).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

import grpc
from encord_gateway._generated.encord.gateway.v1 import projects_pb2, projects_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

DEADLINE_SECONDS = 10.0  # always set one: the gateway bounds its Encord calls, retries included, by it


def describe_error(error: grpc.RpcError) -> str:
    """The status code plus the google.rpc.ErrorInfo the gateway attaches to every error.

    `domain` tells who refused the call: "api.encord.com" for Encord, "gateway.encord-gateway.dev"
    for the gateway itself; `reason` is a stable UPPER_SNAKE name to branch on (never parse `message`).
    """
    status = rpc_status.from_call(error)  # None when the server attached no details
    if status is None:
        return f"{error.code().name}: {error.details()}"
    text = f"{error.code().name}: {status.message}"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            text += f" (reason={info.reason} domain={info.domain} metadata={dict(info.metadata)})"
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            text += f" (retry after {retry.retry_delay.ToTimedelta().total_seconds():.1f}s)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        default=os.environ.get("ENCORD_GATEWAY_TARGET", "127.0.0.1:50051"),
        help="the gateway's gRPC address (ENCORD_GATEWAY_TARGET, default 127.0.0.1:50051)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ENCORD_GATEWAY_TOKEN"),
        help="caller token (ENCORD_GATEWAY_TOKEN; prefer the variable: arguments show in `ps`)",
    )
    parser.add_argument("--title", default=f"quickstart-{uuid.uuid4().hex[:8]}", help="title of the project to create")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: set ENCORD_GATEWAY_TOKEN or pass --token")

    metadata = (("authorization", f"Bearer {args.token}"),)
    # A gateway serving TLS: grpc.secure_channel(args.target, grpc.ssl_channel_credentials(ca_pem));
    # under mutual TLS pass private_key= and certificate_chain= too (the certificate is the identity).
    with grpc.insecure_channel(args.target) as channel:
        projects = projects_pb2_grpc.ProjectServiceStub(channel)
        try:
            created = projects.CreateProject(
                projects_pb2.CreateProjectRequest(title=args.title, description="made by quickstart.py"),
                metadata=metadata,
                timeout=DEADLINE_SECONDS,
            )
            print(f"created project {created.project_hash}")

            # Reads are cached by the gateway; `x-cache` (initial metadata) says whether this one was.
            for _ in range(2):
                project, call = projects.GetProject.with_call(
                    projects_pb2.GetProjectRequest(project_hash=created.project_hash),
                    metadata=metadata,
                    timeout=DEADLINE_SECONDS,
                )
                cache = dict(call.initial_metadata()).get("x-cache", "-")
                print(f"got project {project.project_hash} title={project.title!r} x-cache={cache}")

            listed = projects.ListProjects(
                projects_pb2.ListProjectsRequest(title_eq=args.title), metadata=metadata, timeout=DEADLINE_SECONDS
            )
            print(f"listed {len(listed.projects)} project(s) titled {args.title!r}")
        except grpc.RpcError as error:
            print(f"call failed: {describe_error(error)}", file=sys.stderr)
            return 1

        # An unknown project: NOT_FOUND, with Encord's reason in the ErrorInfo.
        try:
            projects.GetProject(
                projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())),
                metadata=metadata,
                timeout=DEADLINE_SECONDS,
            )
        except grpc.RpcError as error:
            print(f"unknown project: {describe_error(error)}")
            return 0 if error.code() == grpc.StatusCode.NOT_FOUND else 1
        print("unknown project: unexpectedly found", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

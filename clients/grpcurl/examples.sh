#!/usr/bin/env bash
# The README's grpcurl examples as one script: discovery through server reflection, then
# CreateProject, GetProject twice (x-cache: miss, then hit), ListProjects and an error's details.
#
#   clients/grpcurl/examples.sh [TARGET [TOKEN]]
#   ENCORD_GATEWAY_TOKEN=egw_... clients/grpcurl/examples.sh 127.0.0.1:50051
#
# TARGET defaults to $ENCORD_GATEWAY_TARGET or 127.0.0.1:50051, TOKEN to $ENCORD_GATEWAY_TOKEN; GRPCURL
# names the binary (default: grpcurl on PATH, else the repository's .venv/bin/grpcurl). Plaintext; for a
# gateway serving TLS replace -plaintext with -cacert ca.pem (and -cert/-key under mutual TLS).
set -euo pipefail

TARGET=${1:-${ENCORD_GATEWAY_TARGET:-127.0.0.1:50051}}
TOKEN=${2:-${ENCORD_GATEWAY_TOKEN:-}}
if [[ -z $TOKEN ]]; then
    echo "no token: set ENCORD_GATEWAY_TOKEN or pass it as the second argument" >&2
    exit 2
fi
GRPCURL=${GRPCURL:-$(command -v grpcurl || echo "$(dirname "$0")/../../.venv/bin/grpcurl")}
SUFFIX=${ENCORD_EXAMPLES_SUFFIX:-$(date +%s)-$$}
PROJECTS=encord.gateway.v1.ProjectService

rpc() { # rpc [FLAGS...] METHOD JSON
    local args=("${@:1:$#-2}") method=${*: -2:1} data=${*: -1}
    "$GRPCURL" -plaintext -max-time 15 -H "authorization: Bearer $TOKEN" "${args[@]}" -d "$data" "$TARGET" "$method"
}

step() {
    printf '\n== %s\n' "$*"
}

step "list (server reflection)"
"$GRPCURL" -plaintext -max-time 15 "$TARGET" list

step "describe encord.gateway.v1.CreateProjectRequest"
"$GRPCURL" -plaintext -max-time 15 "$TARGET" describe encord.gateway.v1.CreateProjectRequest

step "$PROJECTS/CreateProject"
title="My first project $SUFFIX"
created=$(rpc "$PROJECTS/CreateProject" "{\"title\": \"$title\"}")
echo "$created"
project_hash=$(sed -n 's/.*"\(project_hash\|projectHash\)": *"\([^"]*\)".*/\2/p' <<<"$created") # grpcurl prints proto or JSON names, by version

step "$PROJECTS/GetProject (-v shows the response headers: x-cache miss, then hit)"
rpc -v "$PROJECTS/GetProject" "{\"project_hash\": \"$project_hash\"}"
rpc -v "$PROJECTS/GetProject" "{\"project_hash\": \"$project_hash\"}" | grep -i '^x-cache'

step "$PROJECTS/ListProjects"
rpc "$PROJECTS/ListProjects" "{\"title_eq\": \"$title\"}"

# Errors carry google.rpc.Status; -format-error prints it, ErrorInfo included, as JSON.
step "$PROJECTS/GetProject of an unknown project (an error, expected: NOT_FOUND)"
if error=$(rpc -format-error "$PROJECTS/GetProject" '{"project_hash": "00000000-0000-4000-8000-000000000000"}' 2>&1); then
    echo "unexpected success: $error" >&2
    exit 1
fi
echo "$error"
grep -Eq '"reason": ?"RESOURCE_NOT_FOUND_ERROR"' <<<"$error"

step "all calls succeeded"

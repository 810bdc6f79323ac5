#!/usr/bin/env bash
# The README's REST/JSON examples as one script: projects, datasets and ontologies (create, get twice to
# show x-cache, list), an error as google.rpc.Status JSON, then readiness and metrics.
#
#   clients/curl/examples.sh [REST_URL [TOKEN [METRICS_URL]]]
#   ENCORD_GATEWAY_TOKEN=egw_... clients/curl/examples.sh http://127.0.0.1:8080 "" http://127.0.0.1:9464/metrics
#
# REST_URL defaults to $ENCORD_GATEWAY_REST or http://127.0.0.1:8080; TOKEN to $ENCORD_GATEWAY_TOKEN
# (prefer the variable: arguments show in `ps`); METRICS_URL ($ENCORD_GATEWAY_METRICS) is optional.
# Every call must succeed (curl --fail-with-body): the script stops at the first one that does not.
set -euo pipefail

REST=${1:-${ENCORD_GATEWAY_REST:-http://127.0.0.1:8080}}
TOKEN=${2:-${ENCORD_GATEWAY_TOKEN:-}}
METRICS=${3:-${ENCORD_GATEWAY_METRICS:-}}
if [[ -z $TOKEN ]]; then
    echo "no token: set ENCORD_GATEWAY_TOKEN or pass it as the second argument" >&2
    exit 2
fi
SUFFIX=${ENCORD_EXAMPLES_SUFFIX:-$(date +%s)-$$} # keeps titles unique across runs

AUTH=(-H "authorization: Bearer $TOKEN")
JSON=(-H 'content-type: application/json')

# call ARGS...: one REST call that must succeed; prints the body (and headers with -D -). A failed
# call's body (a google.rpc.Status) goes to stderr, so it shows even where the output is captured.
call() {
    local body
    if ! body=$(curl -sS --fail-with-body --max-time 15 "${AUTH[@]}" "$@"); then
        printf '%s\n' "$body" >&2
        return 1
    fi
    printf '%s\n' "$body"
}

# field NAME: the string value of NAME in the JSON object read from stdin (no jq needed).
field() {
    sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"
}

step() {
    printf '\n== %s\n' "$*"
}

step "POST /v1/projects"
project_title="Cars $SUFFIX"
created=$(call "${JSON[@]}" -d "{\"title\": \"$project_title\", \"description\": \"street scenes\"}" "$REST/v1/projects")
echo "$created"
project_hash=$(field project_hash <<<"$created")

step "GET /v1/projects/$project_hash (x-cache: miss, then hit)"
call -D - "$REST/v1/projects/$project_hash"
call -D - "$REST/v1/projects/$project_hash"

step "GET /v1/projects?title_like=%$SUFFIX%"
call "$REST/v1/projects?title_like=%25$SUFFIX%25"

step "POST /v1/datasets"
dataset_title="Street scenes $SUFFIX"
created=$(call "${JSON[@]}" \
    -d "{\"title\": \"$dataset_title\", \"storage_location\": \"STORAGE_LOCATION_CORD_STORAGE\"}" "$REST/v1/datasets")
echo "$created"
dataset_hash=$(field dataset_hash <<<"$created")

step "GET /v1/datasets/$dataset_hash"
call "$REST/v1/datasets/$dataset_hash"

step "GET /v1/datasets?title_eq=$dataset_title"
call "$REST/v1/datasets?title_eq=${dataset_title// /%20}"

step "POST /v1/ontologies"
structure='{"objects": [{"id": "1", "name": "Car", "color": "#FF0000", "shape": "bounding_box", "featureNodeHash": "a1b2c3d4"}], "classifications": []}'
created=$(call "${JSON[@]}" -d "{\"title\": \"Vehicles $SUFFIX\", \"structure\": $structure}" "$REST/v1/ontologies")
echo "$created"
ontology_hash=$(field ontology_hash <<<"$created")

step "GET /v1/ontologies/$ontology_hash"
call "$REST/v1/ontologies/$ontology_hash"

step "GET /v1/ontologies"
call "$REST/v1/ontologies" >/dev/null && echo "(listed)"

# Errors are google.rpc.Status JSON with grpc-gateway's HTTP codes; ErrorInfo.domain says who refused.
step "GET /v1/projects/<unknown> (an error, expected: HTTP 404)"
error=$(curl -sS --max-time 15 "${AUTH[@]}" -w '\nHTTP %{http_code}' \
    "$REST/v1/projects/00000000-0000-4000-8000-000000000000")
echo "$error"
[[ $error == *"HTTP 404" ]]

if [[ -n $METRICS ]]; then
    step "GET ${METRICS%/metrics}/readyz"
    curl -sS --fail-with-body --max-time 5 "${METRICS%/metrics}/readyz"
    echo
    step "GET $METRICS"
    curl -sS --fail-with-body --max-time 5 "$METRICS" | grep -E '^(grpc_server_handled_total|encord_gateway_cache_requests_total)'
fi

step "all calls succeeded"

"""The control API standing in for Encord's web app: register users' keys, seed data units, storage items and
cloud integrations (and what their buckets hold), tag folders, make workflow templates, expire upload URLs, health,
the request log, faults."""

from __future__ import annotations

import json

from aiohttp import web

from encord_gateway.upstream.signing import KeyFormatError, describe_public_key, load_public_key

from .appkeys import FAULTS, REQUEST_LOG, STORE
from .blobs import signed_url
from .domains.datasets import Dataset, add_data_unit, data_row_v1, mirror_items
from .domains.ml_models import WEIGHTS_PATH, weights_file
from .domains.organisation import CloudIntegration, seed_integration, sign_up
from .domains.projects import create_workflow_template
from .domains.storage import Folder, Item, item_v2, seed_items
from .domains.uploads import expire_next_urls, set_bucket
from .domains.users import register_key
from .errors import ApiError
from .faults import FaultError, parse_fault


def _bad_request(message: str) -> web.Response:
    return web.json_response({"message": message}, status=400)


async def register_user(request: web.Request) -> web.Response:
    """Register `public_key` for `email`: 201 when new, 200 when that user already had that key. A new user signs
    up into an organisation of its own, unless an admin already added it to theirs (see domains/organisation.py)."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _bad_request('the body must be JSON: {"email": ..., "public_key": ...}')
    if not isinstance(body, dict):
        return _bad_request("the body must be a JSON object")
    email, key_text = body.get("email"), body.get("public_key")
    if not isinstance(email, str) or "@" not in email or email != email.strip():
        return _bad_request("'email' is required and must be an e-mail address")
    if not isinstance(key_text, str):
        return _bad_request("'public_key' is required: an 'ssh-ed25519 AAAA...' line or 64 hex characters")
    try:
        info = describe_public_key(load_public_key(key_text))
    except KeyFormatError as exc:
        return _bad_request(str(exc))
    store = request.app[STORE]
    with store.transaction():
        _, created = register_key(store, email, info.public_key_hex)
        sign_up(store, email)
    answer = {"email": email, "public_key_hex": info.public_key_hex, "fingerprint": info.fingerprint}
    return web.json_response(answer, status=201 if created else 200)


async def seed_data_units(request: web.Request) -> web.Response:
    """Add data units to a dataset as if uploaded in the web app: `{"data_units": [{"title", "data_type"
    (VIDEO, IMAGE, IMG_GROUP, DICOM), "frames"?, "images"?: [titles], "width"?, "height"?,
    "client_metadata"?}]}`; 201 with their data rows (§7.5). All or nothing."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _bad_request('the body must be JSON: {"data_units": [...]}')
    units = body.get("data_units") if isinstance(body, dict) else None
    if not isinstance(units, list) or not units or not all(isinstance(u, dict) for u in units):
        return _bad_request("'data_units' must be a non-empty list of objects")
    store = request.app[STORE]
    try:
        with store.transaction():
            dataset = store.get(Dataset, request.match_info["dataset_hash"])
            if dataset is None:
                return web.json_response({"message": "no such dataset"}, status=404)
            rows = [add_data_unit(store, dataset, unit) for unit in units]
    except ApiError as error:
        return _bad_request(error.message)
    return web.json_response({"data_rows": [data_row_v1(r, client_metadata=True) for r in rows]}, status=201)


async def seed_cloud_integration(request: web.Request) -> web.Response:
    """Add a cloud integration as the web app would: `{"owner": <email>, "title": ...}`; 201 with its
    `integration_uuid`. It belongs to the owner's organisation (U-07)."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _bad_request('the body must be JSON: {"owner": ..., "title": ...}')
    owner, title = (body.get("owner"), body.get("title")) if isinstance(body, dict) else (None, None)
    if not isinstance(owner, str) or not isinstance(title, str):
        return _bad_request("'owner' (an e-mail) and 'title' are required strings")
    store = request.app[STORE]
    try:
        with store.transaction():
            integration = seed_integration(store, owner, title)
    except ApiError as error:
        return web.json_response({"message": error.message}, status=error.http_status)
    answer = {"integration_uuid": integration.uuid, "title": integration.title}
    return web.json_response(answer, status=201)


async def _json_body(request: web.Request) -> object:
    try:
        return json.loads(await request.read())
    except ValueError:
        return None


async def seed_storage_items(request: web.Request) -> web.Response:
    """Add items to a storage folder as if uploaded in the web app: `{"items": [{"name", "item_type" (video, image,
    imageGroup, imageSequence, dicomFile, dicomSeries, audio, timeseries, nifti, plainText, pdf, scene),
    "client_metadata"?, "description"?, "content_base64"?, "file_size"?, "width"?, "height"?, "frames"? (videos),
    "children"?: [names] (the frames or files of a composite item)}]}`; 201 with the items (§7.10) and, in a
    dataset's backing folder, the data rows they became. All or nothing."""
    body = await _json_body(request)
    specs = body.get("items") if isinstance(body, dict) else None
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        return _bad_request("'items' must be a non-empty list of objects")
    store = request.app[STORE]
    try:
        with store.transaction():
            folder = store.get(Folder, request.match_info["folder_uuid"])
            if folder is None:
                return web.json_response({"message": "no such storage folder"}, status=404)
            items = seed_items(store, folder, specs)
            rows = mirror_items(store, folder, items)
            answer = {
                "items": [item_v2(store, item) for item in items],
                "data_rows": [data_row_v1(r, client_metadata=True) for r in rows],
            }
    except ApiError as error:
        return _bad_request(error.message)
    return web.json_response(answer, status=201)


async def tag_storage_folder(request: web.Request) -> web.Response:
    """Set a folder's organisation tags (by name), as the web app does: `{"names": [...]}`."""
    body = await _json_body(request)
    names = body.get("names") if isinstance(body, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        return _bad_request("'names' must be a list of tag names")
    store = request.app[STORE]
    with store.transaction():
        folder = store.get(Folder, request.match_info["folder_uuid"])
        if folder is None:
            return web.json_response({"message": "no such storage folder"}, status=404)
        folder.organisation_tags = list(dict.fromkeys(names))
        store.put(folder)
    return web.json_response({"uuid": folder.uuid, "organisation_tags": folder.organisation_tags})


async def sign_item_url(request: web.Request) -> web.Response:
    """A signed URL of an item's file with a lifetime of the caller's choosing (negative: already expired), so that
    tests can see links expire without waiting: `{"lifetime_seconds": int}`."""
    body = await _json_body(request)
    lifetime = body.get("lifetime_seconds") if isinstance(body, dict) else None
    if isinstance(lifetime, bool) or not isinstance(lifetime, int):
        return _bad_request("'lifetime_seconds' must be an integer")
    item = request.app[STORE].get(Item, request.match_info["item_uuid"])
    if item is None or item.url is None:
        return web.json_response({"message": "no such storage item with a file"}, status=404)
    return web.json_response({"url": signed_url(item.url, lifetime)})


async def create_template(request: web.Request) -> web.Response:
    """Make a workflow template as Encord's workflow editor would: `{"title", "stages": [{"key", "stageType",
    "title", and per type "next" | "approve" + "reject" | "pathways": [{"title", "to"}], "annotators"?}]}`, the
    first stage being where tasks start; 201 `{"uuid", "title", "stages"}`. Projects name it as U-01's
    `workflow_template_id`."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _bad_request('the body must be JSON: {"title": ..., "stages": [...]}')
    if not isinstance(body, dict) or not isinstance(body.get("title"), str):
        return _bad_request("'title' is required")
    store = request.app[STORE]
    try:
        with store.transaction():
            template = create_workflow_template(store, body["title"], body.get("stages"))
    except ApiError as error:
        return _bad_request(error.message)
    return web.json_response({"uuid": template.uuid, "title": template.title, "stages": template.stages}, status=201)


async def expire_upload_urls(request: web.Request) -> web.Response:
    """Make the next `{"count": n}` signed upload URLs already expired, as URLs that expire mid-upload; 204."""
    body = await _json_body(request)
    count = body.get("count") if isinstance(body, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return _bad_request("'count' must be a whole number")
    store = request.app[STORE]
    with store.transaction():
        expire_next_urls(store, count)
    return web.Response(status=204)


async def set_cloud_bucket(request: web.Request) -> web.Response:
    """What a cloud integration's bucket holds: `{"objects": [urls] (found by cloud-synced folder syncs),
    "failures": {url: error} (imports of those URLs fail with the error)}`, added to what it held; 200."""
    body = await _json_body(request)
    objects = body.get("objects", []) if isinstance(body, dict) else None
    failures = body.get("failures", {}) if isinstance(body, dict) else None
    if not isinstance(objects, list) or not all(isinstance(url, str) for url in objects):
        return _bad_request("'objects' must be a list of object URLs")
    if not isinstance(failures, dict) or not all(isinstance(error, str) for error in failures.values()):
        return _bad_request("'failures' must map object URLs to error messages")
    store = request.app[STORE]
    with store.transaction():
        if store.get(CloudIntegration, request.match_info["integration_uuid"]) is None:
            return web.json_response({"message": "no such cloud integration"}, status=404)
        bucket = set_bucket(store, request.match_info["integration_uuid"], objects, failures)
    return web.json_response({"objects": bucket.objects, "failures": bucket.failures})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[REQUEST_LOG].entries())


async def clear_requests(request: web.Request) -> web.Response:
    request.app[REQUEST_LOG].clear()
    return web.Response(status=204)


async def add_fault(request: web.Request) -> web.Response:
    """Register one fault (see `faults.parse_fault` for the members); 201 `{"id": ...}`."""
    try:
        fault = parse_fault(json.loads(await request.read()))
    except FaultError as exc:
        return _bad_request(str(exc))
    except ValueError:
        return _bad_request("the body must be a JSON object describing the fault")
    request.app[FAULTS].add(fault)
    return web.json_response({"id": fault.id}, status=201)


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS].entries())


async def clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return web.Response(status=204)


async def download_weights(request: web.Request) -> web.Response:
    """A trained model iteration's weights, at the link M-15 hands out: like a signed URL, no Encord credentials, the
    link's token is the right to download; a wrong or stale link is refused as a storage provider would (403)."""
    data = weights_file(request.app[STORE], request.match_info["training_uuid"], request.query.get("token", ""))
    if data is None:
        return web.json_response({"message": "the link is not valid"}, status=403)
    return web.Response(body=data, content_type="application/octet-stream")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/sandbox/v1/users", register_user)
    app.router.add_post("/sandbox/v1/datasets/{dataset_hash}/data-units", seed_data_units)
    app.router.add_post("/sandbox/v1/workflow-templates", create_template)
    app.router.add_post("/sandbox/v1/cloud-integrations", seed_cloud_integration)
    app.router.add_post("/sandbox/v1/storage/folders/{folder_uuid}/items", seed_storage_items)
    app.router.add_put("/sandbox/v1/storage/folders/{folder_uuid}/organisation-tags", tag_storage_folder)
    app.router.add_post("/sandbox/v1/storage/items/{item_uuid}/signed-url", sign_item_url)
    app.router.add_post("/sandbox/v1/uploads/expired-urls", expire_upload_urls)
    app.router.add_post("/sandbox/v1/cloud-integrations/{integration_uuid}/bucket", set_cloud_bucket)
    app.router.add_get("/sandbox/v1/health", health)
    app.router.add_get("/sandbox/v1/requests", list_requests)
    app.router.add_delete("/sandbox/v1/requests", clear_requests)
    app.router.add_post("/sandbox/v1/faults", add_fault)
    app.router.add_get("/sandbox/v1/faults", list_faults)
    app.router.add_delete("/sandbox/v1/faults", clear_faults)
    app.router.add_get(WEIGHTS_PATH + "/{training_uuid}", download_weights)

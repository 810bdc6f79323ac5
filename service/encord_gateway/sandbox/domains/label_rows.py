"""Label rows (L-01..L-07): not modelled yet. The sandbox has no data units, so there is nothing to label.

The entries exist so that API-key scopes (§6.4) are enforced on these calls as Encord does; their handlers
are stand-ins (`modelled=False`), which the request log reports as NOT_MODELLED. Modelling label rows means
a `label_row` kind (parent: the project; key: its data hash), real handlers here, and `modelled` dropped.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError, invalid, not_found
from ..operations import V1Call, V1Key, V1Operation, V2Route, needs
from .datasets import DataRow
from .projects import Project, datasets_of

# ---- v1 handlers -------------------------------------------------------------------------------


def v1_list_label_rows(call: V1Call) -> list[dict[str, Any]]:
    return []


def v1_no_such_label_row(call: V1Call) -> Any:
    raise not_found("label row", call.uid)


def v1_create_label_row(call: V1Call) -> Any:
    if not isinstance(call.uid, str) or not call.uid:
        raise invalid("uid must be the data hash to label")
    datasets = {d.hash for d in datasets_of(call.store, call.resource_as(Project))}
    row = call.store.get(DataRow, call.uid)
    if row is None or row.dataset_hash not in datasets:
        raise not_found("data row", call.uid)
    raise ApiError("METHOD_NOT_ALLOWED_ERROR", "the sandbox does not implement this call")


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("project", "labelrowmetadata", "GET"): V1Operation(  # L-01
        v1_list_label_rows, key=needs("label.read"), modelled=False
    ),
    ("project", "labelrow", "GET"): V1Operation(  # L-02, L-03
        v1_no_such_label_row, key=needs("label.read"), modelled=False
    ),
    ("project", "labelrow", "PUT"): V1Operation(  # L-04, L-05
        v1_create_label_row, key=needs("label.write"), modelled=False
    ),
    ("project", "labelrow", "POST"): V1Operation(  # L-06, L-07
        v1_no_such_label_row, key=needs("label.write"), modelled=False
    ),
}

V2: tuple[V2Route, ...] = ()

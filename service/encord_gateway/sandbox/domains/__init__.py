"""The sandbox's domains, one module each, in import order (a domain may import the ones before it).

Each module owns its record kinds, rules, wire shapes and handlers, and declares `V1` (a dict of
(context, query_type, query_method) → V1Operation) and `V2` (a tuple of V2Route); routing merges them.
"""

from . import (
    active,
    administration,
    algorithms,
    analytics,
    apikeys,
    datasets,
    groups,
    jobs,
    label_rows,
    ml_models,
    models,
    ontologies,
    organisation,
    projects,
    storage,
    uploads,
    users,
    workflow,
)

DOMAINS = (
    users,
    storage,
    ontologies,
    datasets,
    projects,
    apikeys,
    analytics,
    workflow,
    label_rows,
    organisation,
    groups,
    administration,
    jobs,
    active,
    algorithms,
    ml_models,
    models,
    uploads,
)

__all__ = ["DOMAINS"]

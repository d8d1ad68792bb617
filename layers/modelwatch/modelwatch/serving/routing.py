"""Which variant of a rollout serves a request: the rollout key's value, hashed with the rollout's salt.

``ab`` and ``canary`` send a stable share of requests to the candidate: a request is routed by
the value of the rollout's ``key``:

- ``request_id``: the request id (every request is drawn afresh);
- ``header:<name>``: the header's value (names are case-insensitive), so one caller sending
  ``x-variant-key: customer-42`` always gets the same variant;
- ``feature:<name>``: the feature's value in the request's FIRST instance (a request is one
  caller's): a string as it is, any other value as its JSON text (``42`` and ``42.0`` differ).

When the header or the feature is missing (absent, null or empty), the request id decides
instead, so such a request still gets a variant, drawn like a ``request_id`` key.
:func:`modelwatch.contracts.rollout.assigned_variant` then places the value below the share
(candidate) or above it (production). Shadow samples by the request id alone: it never routes
a caller, only decides which requests the candidate scores after the answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from modelwatch.contracts.rollout import Rollout, Variant, assigned_variant, key_feature, key_header


def key_value(key: str, request_id: str, headers: Mapping[str, str], instances: Sequence[Any]) -> str:
    """The value of the rollout ``key`` in this request, or the request id when it has none.

    ``headers`` must look names up case-insensitively (Starlette's ``Headers`` does).
    """
    header = key_header(key)
    if header is not None:
        return headers.get(header) or request_id
    feature = key_feature(key)
    if feature is not None and instances and isinstance(first := instances[0], dict):
        value = first.get(feature)
        if isinstance(value, str):
            return value or request_id
        if value is not None:
            return json.dumps(value)
    return request_id


def routed_variant(
    rollout: Rollout, request_id: str, headers: Mapping[str, str], instances: Sequence[Any]
) -> Variant:
    """The variant an ``ab``/``canary`` rollout assigns this request (a hash: about 2 µs)."""
    return assigned_variant(rollout.id, key_value(rollout.key, request_id, headers, instances), rollout.share)


def shadowed(rollout: Rollout, request_id: str) -> bool:
    """Whether a ``shadow`` rollout has the candidate score this request (its share, by request id)."""
    return assigned_variant(rollout.id, request_id, rollout.share) == "candidate"

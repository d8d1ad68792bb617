"""Which variant of a rollout serves a request: the rollout key's value, hashed with the rollout's salt.

``ab`` and ``canary`` send a stable share of requests to the candidate: a request is routed by
the value of the rollout's ``key``:

- ``request_id``: the request id (every request is drawn afresh);
- ``header:<name>``: the header's value (names are case-insensitive), so one caller sending
  ``x-variant-key: customer-42`` always gets the same variant;
- ``feature:<name>``: the feature's value in the request's FIRST instance (a request is one
  caller's): a string as it is, any other value as its JSON text (``42`` and ``42.0`` differ).

When the header or the feature is missing (absent, null or empty), the request id decides
instead, so such a request still gets a variant, drawn like a ``request_id`` key. The value is
then placed by :func:`modelwatch.contracts.rollout.assigned_variant`: below the share, the
candidate; above it, production. Shadow samples by the request id alone: it never routes a
caller, only decides which requests the candidate scores after the answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from modelwatch.contracts.rollout import Rollout, Variant, key_feature, key_header

_HASH_SPACE: Final = float(1 << 64)


class Router:
    """The variant of each request of one rollout, with the per-rollout work done once.

    The salted hash is prepared (the key block of BLAKE2b is hashed here, each request copies the
    state), and a header key is looked up in the ASGI scope's raw headers (lower-case bytes, as
    servers and Mangum give them) without building a ``Headers`` object. The variant is the one
    :func:`modelwatch.contracts.rollout.assigned_variant` gives, a test says so.
    """

    __slots__ = ("_feature", "_header", "_salted", "share")

    def __init__(self, rollout: Rollout) -> None:
        self._salted = hashlib.blake2b(digest_size=8, key=rollout.id.encode()[:64])
        self.share = rollout.share
        header = key_header(rollout.key)
        self._header = None if header is None else header.encode("latin-1")
        self._feature = key_feature(rollout.key)

    def assigned(self, key_value: str) -> Variant:
        """``assigned_variant(rollout.id, key_value, rollout.share)``."""
        digest = self._salted.copy()
        digest.update(key_value.encode("utf-8", "surrogatepass"))
        point = int.from_bytes(digest.digest(), "big") / _HASH_SPACE
        return "candidate" if point < self.share else "production"

    def variant(
        self, request_id: str, raw_headers: Iterable[tuple[bytes, bytes]], instances: Sequence[Any]
    ) -> Variant:
        """The variant of a request, from its id, its ASGI ``scope["headers"]`` and its instances."""
        header = self._header
        if header is not None:
            for name, value in raw_headers:
                if name == header:
                    return self.assigned(value.decode("latin-1") or request_id)
            return self.assigned(request_id)
        if self._feature is not None:
            return self.assigned(_feature_value(self._feature, request_id, instances))
        return self.assigned(request_id)


def _feature_value(feature: str, request_id: str, instances: Sequence[Any]) -> str:
    if instances and isinstance(first := instances[0], dict):
        value = first.get(feature)
        if isinstance(value, str):
            return value or request_id
        if value is not None:
            return json.dumps(value)
    return request_id

"""Routing a request to a rollout's variant: the key's value, its fallback, and shares honoured."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scipy.stats import chi2_contingency, chisquare

from modelwatch.contracts.rollout import Rollout, RolloutCandidate, assigned_variant
from modelwatch.contracts.schema import InputSchema
from modelwatch.serving.routing import Router

KEYS = 100_000
SEED = 20261202
SCHEMA = InputSchema.model_validate({"features": [{"name": "amount", "type": "number"}]})


def rollout(share: float = 0.5, key: str = "request_id", rollout_id: str = "fraud-2-ab") -> Rollout:
    candidate = RolloutCandidate(version="2", flavor="sklearn", artifact_uri="/a/2", input_schema=SCHEMA)
    return Rollout(
        id=rollout_id, mode="ab", candidate=candidate, production_version="1", share=share, key=key
    )


def request_ids(count: int, seed: int = SEED) -> list[str]:
    draw = random.Random(seed)
    return [f"{draw.getrandbits(128):032x}" for _ in range(count)]


@pytest.mark.parametrize("share", [0.05, 0.25, 0.5, 0.9])
def test_the_candidate_gets_its_share_of_request_ids(share: float) -> None:
    # Given 100,000 request ids drawn with a fixed seed
    ids = request_ids(KEYS)
    # When each is assigned
    candidates = sum(assigned_variant("fraud-2-ab", key, share) == "candidate" for key in ids)
    # Then the counts agree with the share (chi-square goodness of fit)
    result = chisquare([candidates, KEYS - candidates], [share * KEYS, (1 - share) * KEYS])
    assert result.pvalue > 0.001, (candidates, result)


def test_rollouts_draw_their_shares_independently() -> None:
    # Given the same 100,000 keys in two rollouts (two salts) with a share of one half
    ids = request_ids(KEYS, seed=SEED + 1)
    first = [assigned_variant("rollout-a", key, 0.5) == "candidate" for key in ids]
    second = [assigned_variant("rollout-b", key, 0.5) == "candidate" for key in ids]
    # Then being a candidate in one says nothing of the other (chi-square test of independence)
    table = [[0, 0], [0, 0]]
    for a, b in zip(first, second, strict=True):
        table[a][b] += 1
    assert chi2_contingency(table).pvalue > 0.001, table


def test_a_key_keeps_its_variant_and_a_larger_share_only_adds_keys() -> None:
    ids = request_ids(2_000)
    at_quarter = {key: assigned_variant("r", key, 0.25) for key in ids}
    # The same key is always assigned the same variant ...
    assert all(assigned_variant("r", key, 0.25) == variant for key, variant in at_quarter.items())
    # ... and a canary step up keeps every candidate key a candidate
    at_half = {key: assigned_variant("r", key, 0.5) for key in ids}
    assert {k for k, v in at_quarter.items() if v == "candidate"} < {
        k for k, v in at_half.items() if v == "candidate"
    }
    assert all(assigned_variant("r", key, 0.0) == "production" for key in ids)
    assert all(assigned_variant("r", key, 1.0) == "candidate" for key in ids)


def raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI scope holds them (names lower-cased by the server)."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


@pytest.mark.parametrize("rollout_id", ["fraud-2-ab", "x", "r" * 128])
@pytest.mark.parametrize("share", [0.0, 0.1, 0.5, 0.97, 1.0])
def test_the_router_assigns_what_the_contract_assigns(rollout_id: str, share: float) -> None:
    # The request path's prepared hash gives exactly assigned_variant's answer, key by key
    router = Router(rollout(share=share, rollout_id=rollout_id))
    keys = [*request_ids(3_000), "", "customer-42", "é", "\udcff", "42"]
    assert [router.assigned(k) for k in keys] == [assigned_variant(rollout_id, k, share) for k in keys]


def test_the_request_id_key_is_the_request_id() -> None:
    router = Router(rollout())
    for rid in request_ids(100):
        assert router.variant(rid, raw({"x-variant-key": "v"}), [{"amount": 1}]) == router.assigned(rid)


def test_a_header_key_is_read_whatever_the_case_of_its_name() -> None:
    # Given a rollout keyed on a header named in mixed case, and a caller sending it in capitals
    router = Router(rollout(key="header:X-Variant-Key"))
    headers = raw({"X-VARIANT-KEY": "customer-42", "user-agent": "pytest"})
    # Then one caller gets one variant whatever its request ids: the header's
    variants = {router.variant(rid, headers, []) for rid in request_ids(200)}
    assert variants == {assigned_variant("fraud-2-ab", "customer-42", 0.5)}


@pytest.mark.parametrize("headers", [{}, {"x-variant-key": ""}, {"x-other": "customer-42"}])
def test_a_missing_header_falls_back_to_the_request_id(headers: dict[str, str]) -> None:
    router = Router(rollout(key="header:x-variant-key"))
    for rid in request_ids(50):
        assert router.variant(rid, raw(headers), []) == assigned_variant("fraud-2-ab", rid, 0.5)


@pytest.mark.parametrize(
    ("instances", "expected"),
    [
        ([{"customer": "c-9", "amount": 1}, {"customer": "c-1"}], "c-9"),  # the first instance's
        ([{"customer": 42}], "42"),
        ([{"customer": 42.5}], "42.5"),
        ([{"customer": True}], "true"),
        ([{"customer": None}], None),
        ([{"customer": ""}], None),
        ([{"amount": 1}, {"customer": "c-1"}], None),  # missing in the first: the request id
        (["not an object"], None),
        ([], None),
    ],
)
def test_a_feature_key_reads_the_first_instance_or_falls_back(
    instances: list[Any], expected: str | None
) -> None:
    router = Router(rollout(key="feature:customer", share=0.5))
    for rid in request_ids(50):
        key = rid if expected is None else expected
        assert router.variant(rid, [], instances) == assigned_variant("fraud-2-ab", key, 0.5)


def test_a_feature_key_routes_every_request_of_a_customer_alike() -> None:
    router = Router(rollout(key="feature:customer"))
    for customer in ("c-1", "c-2", "c-3", "c-4"):
        variants = {router.variant(rid, [], [{"customer": customer}]) for rid in request_ids(50)}
        assert variants == {assigned_variant("fraud-2-ab", customer, 0.5)}

"""Routing a request to a rollout's variant: the key's value, its fallback, and shares honoured."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scipy.stats import chi2_contingency, chisquare
from starlette.datastructures import Headers

from modelwatch.contracts.rollout import Rollout, RolloutCandidate, assigned_variant, check_key
from modelwatch.contracts.schema import InputSchema
from modelwatch.serving.routing import key_value, routed_variant, shadowed

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


def test_the_request_id_key_is_the_request_id() -> None:
    assert key_value("request_id", "req-1", Headers({"x-variant-key": "v"}), [{"amount": 1}]) == "req-1"


def test_a_header_key_is_read_whatever_the_case_of_its_name() -> None:
    key = check_key("header:X-Variant-Key")
    headers = Headers({"X-VARIANT-KEY": "customer-42"})
    assert key_value(key, "req-1", headers, []) == "customer-42"
    # Then one caller gets one variant whatever its request ids
    route = rollout(key=key)
    variants = {routed_variant(route, rid, headers, []) for rid in request_ids(200)}
    assert variants == {assigned_variant(route.id, "customer-42", 0.5)}


@pytest.mark.parametrize("headers", [{}, {"x-variant-key": ""}, {"x-other": "customer-42"}])
def test_a_missing_header_falls_back_to_the_request_id(headers: dict[str, str]) -> None:
    assert key_value("header:x-variant-key", "req-7", Headers(headers), []) == "req-7"


@pytest.mark.parametrize(
    ("instances", "expected"),
    [
        ([{"customer": "c-9", "amount": 1}, {"customer": "c-1"}], "c-9"),  # the first instance's
        ([{"customer": 42}], "42"),
        ([{"customer": 42.5}], "42.5"),
        ([{"customer": True}], "true"),
        ([{"customer": None}], "req-3"),
        ([{"customer": ""}], "req-3"),
        ([{"amount": 1}, {"customer": "c-1"}], "req-3"),  # missing in the first: the request id
        (["not an object"], "req-3"),
        ([], "req-3"),
    ],
)
def test_a_feature_key_reads_the_first_instance_or_falls_back(instances: list[Any], expected: str) -> None:
    assert key_value("feature:customer", "req-3", Headers({}), instances) == expected


def test_a_feature_key_routes_every_request_of_a_customer_alike() -> None:
    route = rollout(key="feature:customer")
    for customer in ("c-1", "c-2", "c-3", "c-4"):
        variants = {
            routed_variant(route, rid, Headers({}), [{"customer": customer}]) for rid in request_ids(50)
        }
        assert variants == {assigned_variant(route.id, customer, 0.5)}


def test_shadow_samples_by_request_id_at_the_share() -> None:
    route = rollout(share=0.1)
    ids = request_ids(20_000)
    sampled = [rid for rid in ids if shadowed(route, rid)]
    assert sampled == [rid for rid in ids if assigned_variant(route.id, rid, 0.1) == "candidate"]
    assert chisquare([len(sampled), len(ids) - len(sampled)], [2_000, 18_000]).pvalue > 0.001

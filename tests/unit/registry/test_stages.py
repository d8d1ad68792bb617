"""Stage rules and the transition history."""

from __future__ import annotations

import pytest

from modelwatch.registry import IllegalTransitionError, Stage, TransitionRecord
from modelwatch.registry.memory import InMemoryRegistryBackend
from modelwatch.registry.stages import (
    check_transition,
    current_stage,
    decode_history,
    encode_history,
    parse_stage,
    record_transition,
)

S = Stage


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DEVELOPMENT, S.STAGING),
        (S.STAGING, S.PRODUCTION),
        (S.PRODUCTION, S.ARCHIVED),
        (S.ARCHIVED, S.STAGING),
        (S.STAGING, S.DEVELOPMENT),
    ],
)
def test_allowed_moves(current: Stage, target: Stage) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [(S.DEVELOPMENT, S.PRODUCTION), (S.ARCHIVED, S.PRODUCTION)])
def test_production_only_from_staging_unless_forced(current: Stage, target: Stage) -> None:
    with pytest.raises(IllegalTransitionError, match="staging first"):
        check_transition(current, target)
    check_transition(current, target, force=True)


def test_same_stage_is_refused_even_forced() -> None:
    with pytest.raises(IllegalTransitionError, match="already in staging"):
        check_transition(S.STAGING, S.STAGING, force=True)


def test_parse_stage() -> None:
    assert parse_stage(" Production ") is S.PRODUCTION
    with pytest.raises(IllegalTransitionError, match="unknown stage 'prod'"):
        parse_stage("prod")


def test_current_stage_defaults_to_development() -> None:
    assert current_stage({}) is S.DEVELOPMENT
    assert current_stage({"modelwatch.stage": "garbage"}) is S.DEVELOPMENT
    assert current_stage({"modelwatch.stage": "staging"}) is S.STAGING


def test_history_round_trip_keeps_the_latest() -> None:
    records = [
        TransitionRecord(
            version=str(i), from_stage=S.DEVELOPMENT, to_stage=S.STAGING, actor="ana", reason=f"r{i}"
        )
        for i in range(5)
    ]

    decoded = decode_history(encode_history(records, keep=3))

    assert [r.reason for r in decoded] == ["r2", "r3", "r4"]
    assert decode_history("not json") == []
    assert decode_history('{"a": 1}') == []


def test_record_transition_writes_version_and_model_history() -> None:
    backend = InMemoryRegistryBackend()
    backend.add_version("fraud", "1", {}, {})
    record = TransitionRecord(
        version="1", from_stage=S.DEVELOPMENT, to_stage=S.STAGING, actor="ana", reason="ok"
    )

    record_transition(backend, "fraud", "1", {}, record)

    tags = backend.get_version("fraud", "1").tags
    assert tags["modelwatch.stage"] == "staging"
    assert decode_history(tags["modelwatch.stage_history"]) == [record]
    assert decode_history(backend.get_model("fraud").tags["modelwatch.transitions"]) == [record]

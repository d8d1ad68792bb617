"""The ``api_docs`` section of cdk.json: off by default, and a bad entry named at synth."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_config


def test_docs_stay_behind_the_authoriser_by_default() -> None:
    assert parse_config(None).api_docs.public is False
    assert parse_config({"api_docs": {"public": True}}).api_docs.public is True


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"api_docs": {"public": "sometimes"}}, "modelwatch.api_docs.public"),
        ({"api_docs": {"open": True}}, "modelwatch.api_docs.open"),
    ],
)
def test_a_bad_api_docs_entry_is_named(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_config(raw)

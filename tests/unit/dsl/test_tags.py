"""Every recognised tag accepts the arguments docs/dsl.md gives it."""

from __future__ import annotations

import pytest

from runink.dsl import TAGS, parse_duration, parse_feature


def test_every_tag_accepts_its_documented_example() -> None:
    feature_tags = [s.example for s in TAGS.values() if s.feature]
    scenario_tags = [s.example for s in TAGS.values() if s.scenario and s.name not in ("schedule",)]
    text = (
        "\n".join(feature_tags)
        + "\nFeature: f\n  Scenario: s\n    "
        + "\n    ".join(scenario_tags)
        + "\n"
    )
    feature = parse_feature(text, "f.dsl")
    assert {t.name for t in feature.tags} == {s.name for s in TAGS.values() if s.feature}
    names = {t.name for t in feature.scenarios[0].tags}
    assert names == {s.name for s in TAGS.values() if s.scenario} - {"schedule"}


def test_the_fifteen_design_tags_are_recognised() -> None:
    assert set(TAGS) == {
        "herd",
        "source",
        "step",
        "sink",
        "dlq",
        "schedule",
        "stream",
        "window",
        "requires",
        "affinity",
        "golden",
        "assert",
        "emits",
        "module",
        "slo",
    }


@pytest.mark.parametrize(
    "tag",
    [
        '@schedule(cron="0 3 * * MON-FRI")',
        '@schedule(cron="@hourly")',
        '@window(size="1h30m", slide="5m")',
        '@requires(cpu="2")',
        '@slo(dlq_ratio=0, freshness="90s")',
        "@slo(dlq_ratio=1)",
        '@step("X", after=["A", "B"], depends_on="C", anything={x: [1]})',
        '@sink("jsonl://o", mode="append", keys=["id"], contract="c")',
        '@affinity(zone="eu-west-1", "kubernetes.io/arch"="amd64")',
    ],
)
def test_valid_arguments_are_accepted(tag: str) -> None:
    parse_feature(f"Feature: f\n  Scenario: s\n    {tag}\n", "f.dsl")


def test_parse_duration() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration("2d") == 172800
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("2 hours")

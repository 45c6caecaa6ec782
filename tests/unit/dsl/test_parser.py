"""parse_feature: the DESIGN example and the shapes of text a feature file may take."""

from __future__ import annotations

from pathlib import Path

import pytest

from runink.dsl import Feature, parse_feature, to_plain
from runink.findings import Position

EXAMPLE_FEATURES = sorted((Path(__file__).parents[3] / "example-repo" / "features").glob("*.dsl"))

DESIGN_EXAMPLE = """\
@herd("finance")
Feature: Trade lifecycle

  Scenario: Validate trades
    @source("jsonl://data/trades.jsonl", contract="trade_raw")
    @step("DecodeTrade")
    @step("ValidateContract", contract="trade")
    @step("MaskPII", fields=["trader_email"])
    @sink("duckdb://warehouse.duckdb#silver.trades", mode="upsert")
    @sink("jsonl://out/large_trades.jsonl", when="record.notional > 1000000")
    @dlq("jsonl://dlq/trades.jsonl")      # where rejected records go (default: dlq.jsonl)
    @schedule(cron="*/5 * * * *")          # or @stream, or neither: run once per revision
    @requires(cpu="500m", memory="256Mi")
    @golden("golden/trades/validate")

    Given the contract "trade"
    When trade events arrive
    Then every trade has a positive notional
    Do store valid trades in silver.trades
"""


def parse(text: str) -> Feature:
    return parse_feature(text, "features/trades.dsl")


def test_design_example_parses_into_feature_scenario_tags_and_steps() -> None:
    feature = parse(DESIGN_EXAMPLE)
    assert feature.name == "Trade lifecycle"
    assert feature.position == Position("features/trades.dsl", 2, 1)
    assert [t.name for t in feature.tags] == ["herd"]
    assert feature.tags[0].args == ("finance",)
    (scenario,) = feature.scenarios
    assert scenario.name == "Validate trades"
    assert scenario.position == Position("features/trades.dsl", 4, 3)
    assert [t.name for t in scenario.tags] == [
        "source",
        "step",
        "step",
        "step",
        "sink",
        "sink",
        "dlq",
        "schedule",
        "requires",
        "golden",
    ]
    source = scenario.tags[0]
    assert source.args == ("jsonl://data/trades.jsonl",)
    assert dict(source.kwargs) == {"contract": "trade_raw"}
    assert [s.keyword for s in scenario.steps] == ["Given", "When", "Then", "Do"]
    assert scenario.steps[0].text == 'the contract "trade"'
    assert all(s.expression is None for s in scenario.steps)


def test_every_tag_argument_keeps_its_position() -> None:
    scenario = parse(DESIGN_EXAMPLE).scenarios[0]
    source = scenario.tags[0]
    assert source.position == Position("features/trades.dsl", 5, 5)
    assert source.position_of((0,)) == Position("features/trades.dsl", 5, 13)
    assert source.position_of(("contract",)) == Position("features/trades.dsl", 5, 51)
    assert source.key_position("contract") == Position("features/trades.dsl", 5, 42)
    mask = scenario.tags[3]
    assert mask.position_of(("fields", 0)) == Position("features/trades.dsl", 8, 30)
    # An unknown path falls back to the nearest written ancestor, then to the tag.
    assert mask.position_of(("fields", 7)) == Position("features/trades.dsl", 8, 29)
    assert mask.position_of(("nope",)) == mask.position


def test_values_cover_strings_numbers_booleans_lists_and_nested_maps() -> None:
    text = (
        "Feature: f\n  Scenario: s\n"
        '    @step("X", a=1, b=-2.5, c=1e3, d=true, e=false, f=[1, "two", [3]],\n'
        '          g={k: "v", "quoted key": {inner: [true]}}, h="esc \\" \\n \\u00e9 \\d",)\n'
    )
    tag = parse(text).scenarios[0].tags[0]
    assert to_plain(dict(tag.kwargs)) == {
        "a": 1,
        "b": -2.5,
        "c": 1000.0,
        "d": True,
        "e": False,
        "f": [1, "two", [3]],
        "g": {"k": "v", "quoted key": {"inner": [True]}},
        "h": 'esc " \n \u00e9 \\d',
    }
    assert isinstance(tag.kwargs["a"], int)
    assert tag.position_of(("g", "quoted key", "inner", 0)) == Position(
        "features/trades.dsl", 4, 45
    )
    assert tag.plain_kwargs()["f"] == [1, "two", [3]]


def test_arguments_may_span_lines_with_comments_inside_the_parentheses() -> None:
    text = (
        "Feature: f\n  Scenario: s\n"
        '    @step("Aggregate",\n'
        '          by=["desk"],   # the grouping\n'
        "          # a full comment line inside the arguments\n"
        '          metrics={n: "count()"}\n'
        "    )\n"
        "    Given x\n"
    )
    scenario = parse(text).scenarios[0]
    assert dict(scenario.tags[0].kwargs)["by"] == ("desk",)
    assert scenario.tags[0].position_of(("metrics", "n")) == Position("features/trades.dsl", 6, 23)
    assert scenario.steps[0].position == Position("features/trades.dsl", 8, 5)


def test_description_lines_and_several_scenarios() -> None:
    text = (
        "# leading comment\n\n"
        '@herd("finance") @module("enrich")\n'
        "Feature: Orders\n"
        "  Orders flow from the shop.\n"
        "  Given is fine in a description.\n"
        "\n"
        "  Scenario: One\n"
        '    @source("jsonl://a.jsonl")\n'
        "  Scenario: Two\n"
        "    Given nothing\n"
    )
    feature = parse(text)
    assert feature.description == "Orders flow from the shop.\nGiven is fine in a description."
    assert [t.name for t in feature.tags] == ["herd", "module"]
    assert [s.name for s in feature.scenarios] == ["One", "Two"]
    assert feature.scenarios[1].position == Position("features/trades.dsl", 10, 3)


def test_tabs_crlf_bom_and_missing_final_newline() -> None:
    text = (
        '\ufeff@herd("finance")\r\nFeature:\tTabs\r\n\tScenario:\tOne\r\n'
        '\t\t@source("jsonl://a.jsonl")\t# tabbed comment\r\n\t\tGiven\ttabbed text'
    )
    feature = parse(text)
    scenario = feature.scenarios[0]
    assert feature.name == "Tabs"
    assert scenario.name == "One"
    assert scenario.tags[0].position == Position("features/trades.dsl", 4, 3)
    assert scenario.steps[0].text == "tabbed text"
    assert scenario.steps[0].position == Position("features/trades.dsl", 5, 3)


def test_non_ascii_names_and_step_lines() -> None:
    text = (
        "Feature: Échanges 日本\n"
        "  Scenario: Überprüfung ✓\n"
        '    @source("jsonl://données.jsonl")\n'
        "    Given les opérations arrivent — 取引\n"
    )
    feature = parse(text)
    assert feature.name == "Échanges 日本"
    assert feature.scenarios[0].name == "Überprüfung ✓"
    assert feature.scenarios[0].tags[0].args == ("jsonl://données.jsonl",)
    assert feature.scenarios[0].steps[0].text == "les opérations arrivent — 取引"


def test_hash_in_a_step_line_is_text_not_a_comment() -> None:
    text = "Feature: f\n  Scenario: s\n    Then trade #1 is kept\n"
    assert parse(text).scenarios[0].steps[0].text == "trade #1 is kept"


def test_backticked_then_and_following_and_lines_are_expressions() -> None:
    text = (
        "Feature: f\n  Scenario: s\n"
        "    Given `not an assertion`\n"
        "    Then `record.notional > 0`\n"
        "    And `record.side in ['BUY', 'SELL']`\n"
        "    But `record.qty is not null`\n"
        "    Then prose mentioning `x` is not an expression\n"
    )
    steps = parse(text).scenarios[0].steps
    assert [s.expression for s in steps] == [
        None,
        "record.notional > 0",
        "record.side in ['BUY', 'SELL']",
        "record.qty is not null",
        None,
    ]
    assert steps[1].expression_position == Position("features/trades.dsl", 4, 11)
    assert len(parse(text).scenarios[0].assertions) == 3


def test_tags_and_steps_may_interleave_and_keep_their_order() -> None:
    text = (
        "Feature: f\n  Scenario: s\n"
        '    @source("jsonl://a.jsonl")\n'
        "    Given a\n"
        '    @assert("a > 0", name="positive")\n'
        "    Then b\n"
    )
    scenario = parse(text).scenarios[0]
    assert [t.name for t in scenario.tags] == ["source", "assert"]
    assert [s.text for s in scenario.steps] == ["a", "b"]
    assert scenario.tags_named("assert")[0].kwargs["name"] == "positive"


def test_ast_nodes_are_frozen_and_hashable() -> None:
    feature = parse(DESIGN_EXAMPLE)
    assert len({feature, parse(DESIGN_EXAMPLE)}) == 1
    assert len(set(feature.scenarios[0].tags)) == len(feature.scenarios[0].tags)
    try:
        feature.name = "other"  # type: ignore[misc]
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("Feature is mutable")


@pytest.mark.parametrize("path", EXAMPLE_FEATURES, ids=[p.name for p in EXAMPLE_FEATURES])
def test_example_repo_features_parse(path: Path) -> None:
    feature = parse_feature(path.read_text("utf-8"), f"features/{path.name}")
    assert feature.scenarios

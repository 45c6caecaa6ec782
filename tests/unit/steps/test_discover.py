"""User steps are discovered from source text with ast; the module is never imported."""

from __future__ import annotations

import sys
import textwrap

from runink.findings import Position
from runink.steps import discover_all, discover_steps

MODULE = textwrap.dedent(
    """\
    import runink
    import runink as rk
    from runink import step
    from runink import step as register

    raise SystemExit("importing this module would be a bug")

    @step("EnrichRegion")
    def enrich_region(record: dict, params: dict) -> dict | None:
        return record

    @runink.step("ScoreBatch", batch=True)
    def score(records, params, ctx):
        return records

    @rk.step(name="Tag", batch=False)
    def tag(ctx, record, extra=None):
        return record

    @register("Aliased")
    def aliased(record):
        return record

    @other_decorator("NotAStep")
    def unrelated(record):
        return record
    """
)


def test_steps_are_found_with_name_function_batch_arguments_and_position() -> None:
    discovery = discover_steps(MODULE, "steps/enrich.py")
    assert discovery.findings == ()
    assert [(s.name, s.function, s.batch, s.arguments) for s in discovery.steps] == [
        ("EnrichRegion", "enrich_region", False, ("record", "params")),
        ("ScoreBatch", "score", True, ("records", "params", "ctx")),
        ("Tag", "tag", False, ("ctx", "record")),
        ("Aliased", "aliased", False, ("record",)),
    ]
    first = discovery.steps[0]
    assert first.position == Position("steps/enrich.py", 8, 7)
    assert first.module == "steps/enrich.py"
    assert discovery.step("ScoreBatch") is discovery.steps[1]
    assert discovery.step("Nope") is None


def test_discovery_never_imports_the_module() -> None:
    before = set(sys.modules)
    discover_steps(MODULE, "steps/enrich.py")
    assert set(sys.modules) - before == set()


def codes(text: str) -> list[tuple[str, int, int]]:
    found = discover_steps(textwrap.dedent(text), "steps/m.py").findings
    return [(f.code, f.line, f.column) for f in found]


def test_syntax_error_is_a_positioned_finding() -> None:
    assert codes("def broken(:\n    pass\n") == [("steps.syntax", 1, 12)]
    assert codes("x = 1\0\n")[0][0] == "steps.syntax"


def test_user_step_may_not_take_a_builtin_name() -> None:
    text = '@step("Filter")\ndef f(record):\n    return record\n'
    assert codes(text) == [("steps.builtin-name", 1, 7)]
    assert discover_steps(text, "steps/m.py").steps == ()


def test_duplicate_names_in_a_module_and_across_modules() -> None:
    text = '@step("A")\ndef a(record): ...\n\n@step("A")\ndef b(record): ...\n'
    assert codes(text) == [("steps.duplicate", 4, 7)]
    other = '@step("A")\ndef c(record): ...\n'
    both = discover_all(
        [("steps/one.py", '@step("A")\ndef a(record): ...\n'), ("steps/two.py", other)]
    )
    assert [(f.code, f.file) for f in both.findings] == [("steps.duplicate", "steps/two.py")]
    assert "first at steps/one.py:1" in both.findings[0].message
    assert [s.module for s in both.steps] == ["steps/one.py"]


def test_name_must_be_a_literal_and_valid() -> None:
    assert codes("NAME = 'X'\n@step(NAME)\ndef f(record): ...\n") == [
        ("steps.non-literal-name", 2, 7)
    ]
    assert codes('@step(f"X{1}")\ndef f(record): ...\n') == [("steps.non-literal-name", 1, 7)]
    assert codes("@step()\ndef f(record): ...\n") == [("steps.non-literal-name", 1, 2)]
    assert codes('@step("has space")\ndef f(record): ...\n') == [("steps.invalid-name", 1, 7)]
    assert codes("@step\ndef f(record): ...\n") == [("steps.decorator", 1, 2)]


def test_decorator_arguments_are_checked() -> None:
    assert codes('@step("X", batch=FLAG)\ndef f(record): ...\n') == [("steps.decorator", 1, 18)]
    assert codes('@step("X", bacth=True)\ndef f(record): ...\n') == [("steps.decorator", 1, 18)]
    assert codes('@step("X", True)\ndef f(record): ...\n') == [("steps.decorator", 1, 12)]


def test_signatures_are_checked() -> None:
    assert codes('@step("X")\ndef f(record, other): ...\n') == [("steps.signature", 2, 15)]
    assert codes('@step("X")\ndef f(records): ...\n') == [("steps.signature", 2, 1)]
    assert codes('@step("X", batch=True)\ndef f(record): ...\n') == [("steps.signature", 2, 1)]
    assert codes('@step("X")\ndef f(params): ...\n') == [("steps.signature", 2, 1)]
    assert codes('@step("X")\nasync def f(record): ...\n') == [("steps.decorator", 1, 2)]
    assert codes('@step("X")\nclass F: ...\n') == [("steps.decorator", 1, 2)]

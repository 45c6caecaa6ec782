"""The supervisor books what a step found in a source's unchecked lines to that source."""

from __future__ import annotations

from runink.runtime.executor import SliceStatus, _book_source_lines


def test_source_lines_reported_by_a_step_no_source_feeds_are_a_problem_not_booked() -> None:
    statuses = {
        "source": SliceStatus("source", "source", "source", "succeeded", {"in": 4, "out": 4}),
        "a": SliceStatus("a", "step", "A", "succeeded", {"in": 4}),
        "b": SliceStatus("b", "step", "B", "succeeded", {"in": 4}),
    }
    statuses["b"].source_lines = (2, 0)  # b reads a step, not a source: nothing to book
    edges: list[tuple[str, str, str | None]] = [("source", "a", None), ("a", "b", None)]
    assert _book_source_lines(statuses, edges) == [
        "b: reported source lines, but no single source feeds it"
    ]
    assert statuses["source"].counts == {"in": 4, "out": 4}
    statuses["a"].source_lines = (1, 1)  # a reads the source: one rejected, one blank
    assert _book_source_lines(statuses, edges) == [
        "b: reported source lines, but no single source feeds it"
    ]
    assert statuses["source"].counts == {"in": 3, "out": 2, "dlq": 1}

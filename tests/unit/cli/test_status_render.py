"""How `runi status` renders rows: ages, revisions, slice counts, the wide columns."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from runink.api.protos import runink_pb2 as pb
from runink.cli.status import COLUMNS, WIDE_COLUMNS, age, pipelines_table

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _render(rows: list[pb.PipelineSummary], wide: bool = False) -> str:
    console = Console(width=400, record=True, color_system=None)
    console.print(pipelines_table(rows, wide, NOW))
    return console.export_text()


def test_age_is_compact_and_tolerates_unknown_times() -> None:
    assert age("2026-05-01T11:59:30+00:00", NOW) == "30s"
    assert age("2026-05-01T11:15:00+00:00", NOW) == "45m"
    assert age("2026-04-29T12:00:00+00:00", NOW) == "2d"
    assert age("", NOW) == age("yesterday", NOW) == "-"


def test_a_row_shows_short_revisions_and_drift_towards_the_desired_one() -> None:
    row = pb.PipelineSummary(
        herd="finance",
        pipeline="finance/trades/validate-trades",
        revision="1111111aaaa",
        desired_revision="2222222bbbb",
        sync="OutOfSync",
        health="Progressing",
        slices_ready=3,
        slices_total=4,
        last_run_id="r1",
        last_run_outcome="succeeded",
        last_run_at="2026-05-01T10:00:00+00:00",
        records_written=1200,
        records_dlq=3,
        updated_at="2026-05-01T11:58:00+00:00",
        message="rolling out",
    )
    text = _render([row])
    header, line = text.splitlines()[:2]
    assert header.split() == list(COLUMNS)
    assert line.split()[:8] == [
        "finance",
        "trades/validate-trades",
        "1111111→2222222",
        "OutOfSync",
        "Progressing",
        "3/4",
        "succeeded",
        "2h",
    ]
    assert "1200" in line and "rolling out" in line and " 2m " in line


def test_a_pipeline_without_runs_or_status_shows_dashes() -> None:
    row = pb.PipelineSummary(
        herd="ecommerce",
        pipeline="ecommerce/orders/clean-orders",
        sync="Unknown",
        health="Missing",
        message="no status reported yet",
    )
    line = _render([row]).splitlines()[1].split()
    assert line[2] == "-" and line[5] == "0/0" and line[6] == "-" and line[7] == "-"


def test_wide_has_its_extra_columns_in_order() -> None:
    row = pb.PipelineSummary(herd="h", pipeline="h/f/s", trigger="stream", last_run_id="r9")
    header = _render([row], wide=True).splitlines()[0].split()
    assert header == list(WIDE_COLUMNS)

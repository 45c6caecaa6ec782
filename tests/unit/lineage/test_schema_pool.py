"""Schema checks of pending runs happen in a low-priority worker, with the same verdicts."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator

import pytest

from runink.lineage import schema_pool
from runink.lineage.schema import specs_dir
from tests.integration.lineage.harness import pending_value

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def checker() -> Iterator[schema_pool.SchemaChecker]:
    made = schema_pool.SchemaChecker()
    try:
        yield made
    finally:
        made.close()


def test_the_worker_gives_the_verdicts_the_server_would_and_runs_at_low_priority(
    checker: schema_pool.SchemaChecker,
) -> None:
    good = pending_value()["events"]
    bad = copy.deepcopy(pending_value()["events"])
    bad[0]["eventTime"] = "yesterday"
    del bad[1]["job"]["facets"]["jobType"]["integration"]

    found = checker.check_runs([good, bad])

    assert found == schema_pool.check([good, bad], specs_dir())
    assert found[0] == []
    assert any("eventTime" in p for p in found[1])
    assert any("jobType" in p and "integration" in p for p in found[1])
    worker = checker.process
    assert worker is not None and worker.pid != os.getpid() and worker.poll() is None
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) >= schema_pool.WORKER_NICE
    checker.close()
    assert worker.poll() is not None and checker.process is None  # closed: nothing left


def test_a_worker_that_dies_is_replaced_and_the_checks_go_on(
    checker: schema_pool.SchemaChecker,
) -> None:
    runs = [pending_value()["events"]]
    checker.check_runs(runs)
    first = checker.process
    assert first is not None
    first.kill()
    first.wait()

    assert checker.check_runs(runs) == [[]]
    assert checker.process is not None
    assert checker.process.pid != first.pid


def test_a_broken_facet_seen_again_is_reported_again() -> None:
    bad = copy.deepcopy(pending_value()["events"])
    del bad[1]["job"]["facets"]["jobType"]["integration"]
    first, second = schema_pool.check([bad, bad], specs_dir())
    assert first == second and any("integration" in p for p in first)

"""Limits read back from cgroup files as the kernel shows them: drift, and putting it back.

The hierarchies here are plain directories with the kernel's file names and the values
the kernel reads back (memory in whole pages, "max" or a page-aligned 2^63 for none).
"""

from __future__ import annotations

from pathlib import Path

from agent.isolation.cgroups import PAGE, Hierarchy, Limits, V1Driver, V2Driver

REL = "runink-1-0/finance/0000-slice"
V1_NONE = "9223372036854771712"  # what v1 reads back for "no limit"
WANTED = Limits(cpu_millis=1500, memory_bytes=256 << 20, pids=64)


def v1(tmp_path: Path) -> V1Driver:
    hierarchies = []
    for controller in ("memory", "cpu", "pids"):
        (tmp_path / controller / REL).mkdir(parents=True)
        hierarchies.append(Hierarchy(str(tmp_path / controller), 1, frozenset({controller})))
    return V1Driver(tuple(hierarchies))


def v2(tmp_path: Path) -> V2Driver:
    (tmp_path / "unified" / REL).mkdir(parents=True)
    controllers = frozenset({"memory", "cpu", "pids"})
    return V2Driver((Hierarchy(str(tmp_path / "unified"), 2, controllers),))


def write_v1(tmp_path: Path, memory: str, quota: str, pids: str) -> None:
    (tmp_path / "memory" / REL / "memory.limit_in_bytes").write_text(memory + "\n")
    (tmp_path / "memory" / REL / "memory.memsw.limit_in_bytes").write_text(memory + "\n")
    (tmp_path / "cpu" / REL / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu" / REL / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "pids" / REL / "pids.max").write_text(pids + "\n")


def write_v2(tmp_path: Path, memory: str, cpu: str, pids: str) -> None:
    base = tmp_path / "unified" / REL
    (base / "memory.max").write_text(memory + "\n")
    (base / "cpu.max").write_text(cpu + "\n")
    (base / "pids.max").write_text(pids + "\n")


def test_v1_limits_as_the_kernel_reads_them_back_are_no_drift(tmp_path: Path) -> None:
    driver = v1(tmp_path)
    write_v1(tmp_path, str(256 << 20), "150000", "64")
    assert driver.drift(REL, WANTED) == []
    write_v1(tmp_path, V1_NONE, "-1", "max")
    assert driver.drift(REL, Limits()) == []


def test_memory_not_a_whole_number_of_pages_is_compared_as_the_kernel_rounds_it(
    tmp_path: Path,
) -> None:
    driver = v2(tmp_path)
    write_v2(tmp_path, str(PAGE * 3), "max 100000", "max")
    assert driver.drift(REL, Limits(memory_bytes=PAGE * 3 + 100)) == []


def test_limits_changed_by_hand_are_named_with_the_wanted_value(tmp_path: Path) -> None:
    driver = v1(tmp_path)
    write_v1(tmp_path, str(128 << 20), "150000", "7")
    assert driver.drift(REL, WANTED) == [
        f"memory.limit_in_bytes: {128 << 20}, want {256 << 20}",
        f"memory.memsw.limit_in_bytes: {128 << 20}, want {256 << 20}",
        "pids.max: 7, want 64",
    ]


def test_a_limit_set_where_none_is_wanted_is_drift(tmp_path: Path) -> None:
    driver = v2(tmp_path)
    write_v2(tmp_path, "max", "50000 100000", "max")
    assert driver.drift(REL, Limits()) == ["cpu.max: 50000 100000, want max"]


def test_set_limits_puts_every_file_back_and_none_means_no_limit(tmp_path: Path) -> None:
    driver = v1(tmp_path)
    write_v1(tmp_path, str(128 << 20), "50000", "7")
    driver.set_limits(REL, WANTED)
    assert driver.drift(REL, WANTED) == []
    driver.set_limits(REL, Limits())
    assert (tmp_path / "memory" / REL / "memory.limit_in_bytes").read_text() == "-1"
    assert (tmp_path / "cpu" / REL / "cpu.cfs_quota_us").read_text() == "-1"
    assert (tmp_path / "pids" / REL / "pids.max").read_text() == "max"
    assert driver.drift(REL, Limits()) == []


def test_v2_set_limits_writes_max_for_no_limit(tmp_path: Path) -> None:
    driver = v2(tmp_path)
    write_v2(tmp_path, "1", "1000 100000", "1")
    driver.set_limits(REL, Limits(cpu_millis=500))
    base = tmp_path / "unified" / REL
    assert (base / "cpu.max").read_text() == "50000 100000"
    assert (base / "memory.max").read_text() == "max"
    assert (base / "pids.max").read_text() == "max"


def test_a_cgroup_gone_or_unreadable_is_not_drift(tmp_path: Path) -> None:
    driver = v2(tmp_path)
    assert driver.drift("runink-1-0/finance/gone", WANTED) == []


def test_the_driver_remembers_what_it_created_and_with_which_limits(tmp_path: Path) -> None:
    driver = v2(tmp_path)
    driver.create("runink-1-0/finance/0001-other", WANTED)
    assert driver.created == {"runink-1-0/finance/0001-other": WANTED}
    assert driver.children("runink-1-0/finance") == {REL, "runink-1-0/finance/0001-other"}

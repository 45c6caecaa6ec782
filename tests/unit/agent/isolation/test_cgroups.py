"""The cgroup layout is detected from the mount table, not assumed."""

from __future__ import annotations

from pathlib import Path

from agent.isolation.cgroups import HybridDriver, V1Driver, V2Driver, detect, mounted_hierarchies

HYBRID = """\
33 27 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 27 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 27 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
36 27 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
37 27 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
V1_ONLY = "".join(line + "\n" for line in HYBRID.splitlines() if "cgroup2" not in line)
V2_ONLY = "30 27 0:26 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def driver_for(tmp_path: Path, mountinfo: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "mountinfo"
    path.write_text(mountinfo)
    return detect(mounted_hierarchies(str(path)))


def test_v1_controllers_plus_a_unified_mount_is_hybrid(tmp_path: Path) -> None:
    driver = driver_for(tmp_path, HYBRID)
    assert isinstance(driver, HybridDriver) and driver.version == "hybrid"
    assert driver.by_controller["memory"].path == "/sys/fs/cgroup/memory"
    assert driver.by_controller["cpu"] is driver.by_controller["cpuacct"]
    assert driver.tracking is not None and driver.tracking.version == 2
    assert driver.missing() == []


def test_named_hierarchies_like_systemd_hold_no_controller(tmp_path: Path) -> None:
    paths = [h.path for h in driver_for(tmp_path, HYBRID).hierarchies]
    assert "/sys/fs/cgroup/systemd" not in paths


def test_v1_only_tracks_processes_in_the_pids_hierarchy(tmp_path: Path) -> None:
    driver = driver_for(tmp_path, V1_ONLY)
    assert isinstance(driver, V1Driver)
    assert driver.tracking is not None and driver.tracking.path == "/sys/fs/cgroup/pids"


def test_v2_only_is_v2(tmp_path: Path) -> None:
    driver = driver_for(tmp_path, V2_ONLY)
    assert isinstance(driver, V2Driver) and driver.version == "v2"


def test_a_missing_controller_is_named(tmp_path: Path) -> None:
    without_pids = "".join(line + "\n" for line in V1_ONLY.splitlines() if "pids" not in line)
    assert driver_for(tmp_path, without_pids).missing() == ["pids"]

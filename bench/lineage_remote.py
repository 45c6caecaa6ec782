"""What pushing lineage to a remote costs, and what a race with a person costs on top.

The same 1,000 finished runs of validate-trades (real OpenLineage events, signed with a
real SSH key) are committed in batches of 50 three ways: to a local bare repository
(``LineageRepo``: build, compare-and-swap ``update-ref``; the baseline), to a remote bare
repository by file:// URL (``RemoteLineageRepo``: fetch, build, push without force), and
to the same kind of remote while a person in another clone pushes a commit to the
lineage branch every 0.1-0.3 s (each lost race: fetch, rebuild, push again). The remote
refuses non-fast-forward pushes. Measured: time per batch (p50, p99), total, lost races,
and that every run is on the branch exactly once with every person commit kept. Also:
how long the source controller's fetch of one new commit into its mirror takes.
Prints a table and writes bench/results/lineage_remote.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lineage import git, percentile, reports  # noqa: E402

from runink.lineage.writer import LineageRepo, PendingRun, RemoteLineageRepo, Signing  # noqa: E402
from runink.repo.remote import Mirror  # noqa: E402

BATCH = 50
BRANCH = "runink/lineage"
REF = f"refs/heads/{BRANCH}"


class Person(threading.Thread):
    """Pushes a note to the remote's lineage branch every 0.1-0.3 s, never forced."""

    def __init__(self, root: Path, remote: Path) -> None:
        super().__init__(daemon=True)
        self.clone = root / "person"
        git(root, "clone", "-q", str(remote), str(self.clone))
        self.pushed: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.wait(random.uniform(0.1, 0.3)):
            git(self.clone, "fetch", "-q", "origin")
            if not git(self.clone, "branch", "-r", "--list", f"origin/{BRANCH}"):
                continue
            git(self.clone, "checkout", "-q", "-B", "notes", f"origin/{BRANCH}")
            n += 1
            (self.clone / "notes").mkdir(exist_ok=True)
            (self.clone / "notes" / f"{n}.txt").write_text(f"note {n}\n")
            git(self.clone, "add", "notes")
            git(self.clone, "commit", "-q", "-m", f"note {n}")
            done = subprocess.run(
                ["git", "push", "-q", "origin", f"HEAD:{REF}"],
                cwd=self.clone,
                capture_output=True,
                timeout=60,
                check=False,
            )
            if done.returncode == 0:
                self.pushed.append(git(self.clone, "rev-parse", "HEAD"))


def bare(root: Path, name: str) -> Path:
    path = root / name
    git(root, "init", "-q", "--bare", str(path))
    git(path, "config", "receive.denyNonFastForwards", "true")
    return path


def commit_all(writer: LineageRepo, runs: Sequence[PendingRun], key: Path) -> dict[str, Any]:
    times: list[float] = []
    conflicts = 0
    started = time.perf_counter()
    for start in range(0, len(runs), BATCH):
        t0 = time.perf_counter()
        appended = writer.append(runs[start : start + BATCH], Signing("ssh", key))
        times.append(time.perf_counter() - t0)
        conflicts += appended.conflicts
    return {"total": time.perf_counter() - started, "batches": times, "conflicts": conflicts}


def check(repo: Path, runs: Sequence[PendingRun], kept: Sequence[str]) -> bool:
    """Every run on the branch exactly once, and every person commit an ancestor."""
    files = [f for f in git(repo, "ls-tree", "-r", "--name-only", REF).splitlines()]
    runs_ok = sorted(f for f in files if f.startswith("lineage/")) == sorted(r.path for r in runs)
    tip = git(repo, "rev-parse", REF)
    for sha in kept:
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", sha, tip], cwd=repo, check=False, timeout=60
        )
        if done.returncode != 0:
            return False
    return runs_ok


def fetch_latency(root: Path, source: Path, pushes: int) -> list[float]:
    """A person pushes to main; the mirror fetches it (what the source controller does)."""
    remote = root / "source.git"
    git(root, "clone", "-q", "--bare", str(source), str(remote))
    clone = root / "source-clone"
    git(root, "clone", "-q", str(remote), str(clone))
    mirror = Mirror(remote.as_uri(), root / "source-mirror.git")
    mirror.fetch_branch("main")
    times = []
    for i in range(pushes):
        (clone / "NOTES.md").write_text(f"push {i}\n")
        git(clone, "add", "NOTES.md")
        git(clone, "commit", "-q", "-m", f"push {i}")
        git(clone, "push", "-q", "origin", "main")
        t0 = time.perf_counter()
        mirror.fetch_branch("main")
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runink-bench-lineage-remote-"))
    try:
        repo = tmp / "repo"
        shutil.copytree(ROOT / "example-repo", repo)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "pipelines")
        revision = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
        runs = [PendingRun.from_value(p) for _, p in reports(repo, args.runs, revision)]
        key = tmp / "signing_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
            timeout=60,
        )
        local = bare(tmp, "local.git")
        rows: dict[str, dict[str, Any]] = {}
        rows["local bare repo (update-ref; baseline)"] = commit_all(
            LineageRepo(local, BRANCH), runs, key
        )
        rows["local bare repo (update-ref; baseline)"]["ok"] = check(local, runs, [])
        remote = bare(tmp, "remote.git")
        writer = RemoteLineageRepo(bare(tmp, "mirror.git"), BRANCH, remote.as_uri())
        name = "remote by file:// URL (fetch, push)"
        rows[name] = commit_all(writer, runs, key)
        rows[name]["ok"] = check(remote, runs, [])
        raced = bare(tmp, "raced.git")
        writer = RemoteLineageRepo(bare(tmp, "raced-mirror.git"), BRANCH, raced.as_uri())
        writer.append(runs[:1], Signing("ssh", key))  # the branch exists: the person joins
        person = Person(tmp, raced)
        person.start()
        name = "remote, a person pushing every 0.1-0.3 s"
        try:
            rows[name] = commit_all(writer, runs[1:], key)
        finally:
            person.stop.set()
            person.join(60)
        rows[name]["ok"] = check(raced, runs, person.pushed)
        rows[name]["person_commits"] = len(person.pushed)
        fetches = fetch_latency(tmp, repo, 20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    title = f"{args.runs} runs, batches of {BATCH}"
    print(f"{title:<44} {'p50 ms':>8} {'p99 ms':>8} {'total s':>8} {'races':>6} {'exact':>6}")
    for name, row in rows.items():
        lat = row["batches"]
        print(
            f"{name:<44} {statistics.median(lat) * 1e3:>8.1f} {percentile(lat, 0.99) * 1e3:>8.1f}"
            f" {row['total']:>8.2f} {row['conflicts']:>6} {'yes' if row['ok'] else 'NO':>6}"
        )
    print(
        f"mirror fetch of one pushed commit: p50 {statistics.median(fetches) * 1e3:.1f} ms, "
        f"p99 {percentile(fetches, 0.99) * 1e3:.1f} ms ({len(fetches)} pushes)"
    )
    result = {
        "benchmark": "lineage_remote",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "results": {
            "runs": args.runs,
            "batch": BATCH,
            "writers": {
                name: {
                    "batch_ms_p50": round(statistics.median(row["batches"]) * 1e3, 2),
                    "batch_ms_p99": round(percentile(row["batches"], 0.99) * 1e3, 2),
                    "total_s": round(row["total"], 3),
                    "lost_races": row["conflicts"],
                    "exactly_once_and_nothing_dropped": row["ok"],
                    **(
                        {"person_commits": row["person_commits"]} if "person_commits" in row else {}
                    ),
                }
                for name, row in rows.items()
            },
            "mirror_fetch_ms": {
                "p50": round(statistics.median(fetches) * 1e3, 2),
                "p99": round(percentile(fetches, 0.99) * 1e3, 2),
            },
        },
        "notes": [
            "Writer level (no Barn, no controller): the difference between the rows is the"
            " transport (a fetch and a push per batch) and, in the last row, the lost races.",
            "file:// runs git's real fetch/push protocol through local processes; over SSH or"
            " HTTPS add the network round trips (two per batch, two more per lost race).",
        ],
    }
    out = ROOT / "bench" / "results" / "lineage_remote.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

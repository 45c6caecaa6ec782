"""`make demo`: the main job on the embedded default, narrated.

Copies example-repo/ into a fresh git repository (a bare "origin" and a clone, in a
temp dir), starts `runi up` on the origin, waits until every pipeline is Synced and
Healthy, pushes a commit that changes one feature (and trusts runi up's lineage signing
key in .runink/allowed_signers), shows the new revision converging, prints `runi
status`, then fetches the signed lineage branch and shows `runi lineage log`,
`git verify-commit` and `runi lineage verify`, and stops everything.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNI = [sys.executable, "-m", "runink.cli.main"]
HERDS = ("finance", "ecommerce")
GIT = ["git", "-c", "user.name=Runink Demo", "-c", "user.email=demo@runink.dev"]


def say(text: str) -> None:
    print(f"\033[1m== {text}\033[0m", flush=True)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def runi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUNI, *args], capture_output=True, text=True, timeout=60, check=False)


class Up:
    """`runi up` as a child process; its narration is echoed, indented."""

    def __init__(self, repo: Path, state: Path) -> None:
        self.process = subprocess.Popen(
            [*RUNI, "up", str(repo), "--data-dir", str(state)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.api = ""
        self.ready = threading.Event()
        threading.Thread(target=self._echo, daemon=True).start()

    def _echo(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            print(f"   | {line.rstrip()}", flush=True)
            if "API (gRPC, mTLS)" in line:
                self.api = line.split()[4]
            if "Ctrl-C stops" in line:
                self.ready.set()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def status(up: Up, state: Path, herd: str, *args: str) -> subprocess.CompletedProcess[str]:
    key = state / "pki" / "token.key"
    token = runi("token", "mint", "--herd", herd, "--role", "viewer", "--key", str(key))
    return runi(
        "status", "--server", up.api, "--ca", str(state / "pki/ca.crt"),
        "--token", token.stdout.strip(), *args,
    )  # fmt: skip


def pipelines(up: Up, state: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for herd in HERDS:
        done = status(up, state, herd, "-o", "json")
        if done.returncode == 0:
            rows.extend(json.loads(done.stdout))
    return rows


def wait_converged(
    up: Up, state: Path, revision: str, changed: str | None = None, timeout: float = 90.0
) -> float:
    """Until every pipeline is Synced and Healthy, and ``changed`` (or every pipeline,
    when None) runs ``revision``: a push rewrites only the pipelines it changed."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        rows = pipelines(up, state)
        if rows and all(
            r["sync"] == "Synced"
            and r["health"] == "Healthy"
            and (revision in str(r["revision"]) or changed not in (None, r["pipeline"]))
            for r in rows
        ):
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"demo: not every pipeline became Synced and Healthy at {revision[:12]}")


def set_secret(up: Up, state: Path) -> None:
    """The ecommerce herd declares orders_api_token: its admin sets it (value on stdin)."""
    key = state / "pki" / "token.key"
    token = runi(
        "token", "mint", "--herd", "ecommerce", "--role", "admin",
        "--subject", "dave@example.com", "--key", str(key),
    ).stdout.strip()  # fmt: skip
    done = subprocess.run(
        [*RUNI, "secret", "set", "--herd", "ecommerce", "orders_api_token",
         "--server", up.api, "--ca", str(state / "pki/ca.crt")],
        input="demo-token-value", capture_output=True, text=True, timeout=60,
        env={**os.environ, "RUNINK_TOKEN": token}, check=False,
    )  # fmt: skip
    print(f"   | {(done.stdout or done.stderr).strip()}", flush=True)


def trust_lineage_key(work: Path, state: Path) -> None:
    """Add the allowed-signers line runi up printed for its generated key, as a user would."""
    line = (state / "lineage" / "allowed_signers").read_text()
    signers = work / ".runink" / "allowed_signers"
    signers.write_text(signers.read_text() + line)
    print(f"   | .runink/allowed_signers += {line.strip()[:72]}...", flush=True)


def show_lineage(origin: Path, work: Path, revision: str, timeout: float = 60.0) -> None:
    """Fetch the lineage branch once the run of ``revision`` is on it; log and verify it."""
    say("the runs' lineage, committed and signed on runink/lineage of origin.git")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = runi("lineage", "log", "--repo", str(origin), "-o", "json")
        if done.returncode == 0 and any(
            revision in row["revision"] for row in json.loads(done.stdout)
        ):
            break
        time.sleep(0.5)
    else:
        raise SystemExit("demo: the runs' lineage did not reach runink/lineage")
    git(work, "fetch", "-q", "origin", "runink/lineage:runink/lineage")
    say("runi lineage log (in the clone, offline)")
    print(runi("lineage", "log", "--repo", str(work)).stdout, flush=True)
    say("git verify-commit runink/lineage (allowed signers: .runink/allowed_signers)")
    signers = work / ".runink" / "allowed_signers"
    done = subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", "runink/lineage"],
        cwd=work, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    print(f"   | {(done.stderr or done.stdout).strip()}", flush=True)
    if done.returncode != 0:
        raise SystemExit("demo: the lineage branch's tip does not verify")
    say("runi lineage verify")
    done = runi("lineage", "verify", "--repo", str(work))
    print(done.stdout, flush=True)
    if done.returncode != 0:
        raise SystemExit("demo: runi lineage verify failed")


def main() -> None:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="runink-demo-"))
    try:
        say(f"a pipeline repository from example-repo/: {tmp}/origin.git, cloned to {tmp}/work")
        work = tmp / "work"
        shutil.copytree(ROOT / "example-repo", work)
        git(work, "init", "-q", "-b", "main")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "example pipelines")
        git(tmp, "clone", "-q", "--bare", str(work), str(tmp / "origin.git"))
        git(work, "remote", "add", "origin", str(tmp / "origin.git"))
        first = git(work, "rev-parse", "HEAD")

        say("runi up: one server (Barn, API, controllers) and one agent for origin.git")
        up = Up(tmp / "origin.git", tmp / "state")
        try:
            if not up.ready.wait(60):
                raise SystemExit("demo: runi up did not start")
            say("runi secret set --herd ecommerce orders_api_token (value on stdin; sealed)")
            set_secret(up, tmp / "state")
            seconds = wait_converged(up, tmp / "state", first)
            say(f"every pipeline Synced and Healthy at {first[:12]} ({seconds:.1f} s)")

            say("a change to one feature: orders' DLQ objective 5% -> 2%, git push")
            feature = work / "features/orders.dsl"
            feature.write_text(feature.read_text().replace("dlq_ratio=0.05", "dlq_ratio=0.02"))
            trust_lineage_key(work, tmp / "state")
            git(work, "commit", "-q", "-am", "orders: tighter DLQ objective; trust the lineage key")
            pushed = time.monotonic()
            git(work, "push", "-q", "origin", "main")
            second = git(work, "rev-parse", "HEAD")
            wait_converged(up, tmp / "state", second, changed="ecommerce/orders/clean-orders")
            say(f"{second[:12]} converged {time.monotonic() - pushed:.1f} s after the push")

            for herd in HERDS:
                say(f"runi status (a viewer token of herd {herd})")
                print(status(up, tmp / "state", herd).stdout, flush=True)
            show_lineage(tmp / "origin.git", work, second)
        finally:
            say("stopping runi up (Ctrl-C)")
            code = up.stop()
        if code != 0:
            raise SystemExit(f"demo: runi up exited with {code}")
        say(f"done in {time.monotonic() - started:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()

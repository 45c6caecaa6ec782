"""``runi hook``: git hook programs (``pre-receive`` for a bare repository)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from runink.audit import pre_receive, text
from runink.cli.output import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from runink.findings import RuninkError


@click.group("hook")
def hook() -> None:
    """Git hook programs: install them in the repository the team pushes to."""


@hook.command("pre-receive")
@click.option("--no-golden", is_flag=True, help="Skip the golden tests of affected pipelines.")
def pre_receive_command(no_golden: bool) -> None:
    """Audit pushes to the tracked branch; reject the push when the audit fails.

    Install in a bare repository as hooks/pre-receive:

        #!/bin/sh
        exec runi hook pre-receive

    git passes one "<old> <new> <ref>" line per ref on stdin. The report is shown to
    the pusher. Exit status: 0 accept, 1 reject (findings), 2 reject (usage or error).
    """
    repo = Path(os.environ.get("GIT_DIR") or ".")
    try:
        result = pre_receive(repo, sys.stdin.read().splitlines(), golden=not no_golden)
    except RuninkError as error:
        for finding in error.findings:
            print(f"runink: {finding}", file=sys.stderr)
        print("runink: push rejected: the audit could not run", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for problem in result.problems:
        print(f"runink: {problem}", file=sys.stderr)
    for ref, report in result.reports:
        sys.stderr.write(f"runink: audit of {ref}\n" + text(report))
    if result.problems:
        raise SystemExit(EXIT_USAGE)
    if not result.ok:
        print("runink: push rejected: fix the errors above and push again", file=sys.stderr)
        raise SystemExit(EXIT_FINDINGS)
    raise SystemExit(EXIT_OK)


@hook.command("post-receive")
@click.option(
    "--url",
    envvar="RUNINK_HOOK_URL",
    help="The server's hook URL, http://HOST:PORT/hooks/<source> "
    "(default: git config runink.hookUrl).",
)
@click.option(
    "--secret-file",
    envvar="RUNINK_HOOK_SECRET_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The source's webhook secret (default: git config runink.hookSecretFile).",
)
def post_receive_command(url: str | None, secret_file: Path | None) -> None:
    """Tell the Runink server that refs moved, so it applies the push at once.

    Install in a bare repository as hooks/post-receive (exec runi hook post-receive).
    The request is signed (HMAC-SHA256 of the body with the source's secret). A push
    is never failed by this hook: if the server cannot be told, it finds the commit
    at its next poll, and the hook says so.
    """
    import urllib.error
    import urllib.request

    from reconciler.server import SIGNATURE_HEADER, hook_signature

    repo = Path(os.environ.get("GIT_DIR") or ".")
    url = url or _git_config(repo, "runink.hookUrl")
    secret_path = secret_file or Path(_git_config(repo, "runink.hookSecretFile") or "")
    lines = sys.stdin.read().splitlines()
    if not url or not str(secret_path) or str(secret_path) == ".":
        print(
            "runink: post-receive: no hook URL or secret (set git config runink.hookUrl and "
            "runink.hookSecretFile); the server will see the push at its next poll",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_OK)
    if not url.startswith(("http://", "https://")):
        print(f"runink: post-receive: {url!r} is not an http(s) URL", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    body = ("\n".join(lines) + "\n").encode()
    try:
        secret = secret_path.read_bytes().strip()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url, body, {SIGNATURE_HEADER: hook_signature(secret, body)}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 - checked above
            print(f"runink: notified {url} ({reply.status})", file=sys.stderr)
    except (OSError, urllib.error.URLError) as exc:
        print(
            f"runink: post-receive: could not notify {url}: {exc}; "
            "the server will see the push at its next poll",
            file=sys.stderr,
        )
    raise SystemExit(EXIT_OK)


def _git_config(repo: Path, key: str) -> str | None:
    import subprocess

    done = subprocess.run(
        ["git", "config", "--get", key], cwd=repo, capture_output=True, text=True, timeout=10
    )
    return done.stdout.strip() or None

"""A pipeline repository reached by URL, kept as a bare mirror on local disk.

``runi server URL`` never reads a remote directly: the source controller fetches the
tracked branch into ``<data>/sources/<name>.git`` and reads that mirror as it reads a
local repository; the lineage controller fetches the remote's lineage branch into the
same mirror, builds its commit on that tip and pushes it back without force. All the
transport is here, with the git CLI (it speaks every protocol and honours the user's
SSH and credential set-up): ``git fetch``, ``git ls-remote`` and ``git push``.

It lives in ``runink.repo`` rather than ``reconciler`` because ``runink.lineage``
pushes through it, and ``runink`` never imports ``reconciler``.

A URL may hold a credential (``https://user:token@host/...``). It is passed to git on
its command line only, never written to the mirror's config, and every message shows
:func:`redact`'s form of it.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

NETWORK_TIMEOUT: Final = 120.0
SCHEMES: Final = frozenset({"file", "ssh", "git", "http", "https", "git+ssh", "ssh+git"})
_SCHEME_URL: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# git's scp-like syntax: [user@]host:path, with no slash before the first colon.
_SCP_URL: Final = re.compile(r"^(?:[^@/:\s]+@)?[^@/:\s]+:(?!:)")
# Only these transports, whatever the user's git config allows (ext:: runs commands).
_ALLOWED_PROTOCOLS: Final = "file:git:http:https:ssh"


class RemoteError(Exception):
    """Git could not reach or update a remote: one line, the URL without credentials."""


class FetchFailed(RemoteError):
    """A fetch (or ls-remote) failed; the mirror keeps what it had."""


class PushFailed(RemoteError):
    """A push failed for another reason than a rejected ref (no route, no access)."""


@dataclass(frozen=True)
class Pushed:
    """What the remote said about the one ref a push updated."""

    ok: bool
    reason: str  # git's summary: "new branch", "fetch first", "non-fast-forward", ...


def is_url(text: str) -> bool:
    """Whether ``text`` names a remote (``scheme://...`` or scp-like ``host:path``)."""
    return bool(_SCHEME_URL.match(text) or _SCP_URL.match(text))


def parse_location(text: str) -> Path | str:
    """A source location: an existing directory as a Path, a URL as itself.

    Raises ValueError (the message says what is accepted) for anything else.
    """
    if not _SCHEME_URL.match(text) and Path(text).is_dir():
        return Path(text)
    if text.startswith("-"):
        raise ValueError(f"{text!r} is neither a directory nor a git URL")
    scheme = _SCHEME_URL.match(text)
    if scheme is not None:
        if scheme.group(1).lower() not in SCHEMES:
            raise ValueError(
                f"{redact(text)}: the {scheme.group(1)}:// scheme is not supported; use one of "
                + ", ".join(f"{s}://" for s in sorted(SCHEMES))
                + " or user@host:path"
            )
        return text
    if _SCP_URL.match(text):
        return text
    raise ValueError(
        f"{text!r} is neither a directory nor a git URL (file://, ssh://, https://, user@host:path)"
    )


def redact(url: str) -> str:
    """``url`` without its credentials, query and fragment: safe for logs and conditions.

    An http(s) URL loses its whole user part (tokens often pose as user names); other
    schemes keep the user name and lose the password.
    """
    if not _SCHEME_URL.match(url):
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port is not None else "")
    if parts.username and parts.scheme.lower() not in ("http", "https"):
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def mirror_path(data_dir: Path, name: str) -> Path:
    """Where a server keeps the mirror of source ``name``: ``<data>/sources/<name>.git``."""
    return data_dir / "sources" / f"{name}.git"


class Mirror:
    """A bare repository at ``path`` that mirrors branches of the remote at ``url``."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.path = path
        self.display = redact(url)

    def ensure(self) -> None:
        """Create the bare mirror if it is not there (no network)."""
        if (self.path / "HEAD").exists():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        done = self._git("init", "--quiet", "--bare", str(self.path), cwd=self.path.parent)
        if done.returncode != 0:
            raise FetchFailed(f"cannot create the mirror {self.path}: {_reason(done, self)}")

    def default_branch(self) -> str:
        """The branch the remote's HEAD names (what a clone would check out)."""
        done = self._git("ls-remote", "--symref", self.url, "HEAD")
        if done.returncode != 0:
            raise FetchFailed(f"cannot read {self.display}: {_reason(done, self)}")
        for line in done.stdout.splitlines():
            if line.startswith("ref: ") and line.endswith("\tHEAD"):
                return line[len("ref: ") : -len("\tHEAD")].removeprefix("refs/heads/")
        raise FetchFailed(f"cannot read {self.display}: it has no default branch (empty?)")

    def fetch_branch(self, branch: str | None) -> str:
        """Bring ``branch`` (None: the remote's default, which becomes the mirror's HEAD)
        to the remote's commit; the branch fetched."""
        self.ensure()
        if branch is None:
            branch = self.default_branch()
            self._git("symbolic-ref", "HEAD", f"refs/heads/{branch}")
        self.fetch(f"refs/heads/{branch}")
        return branch

    def fetch(self, ref: str, *, missing_ok: bool = False) -> bool:
        """Set the mirror's ``ref`` to the remote's (forced: the mirror only follows).

        False when the remote has no such ref and ``missing_ok``; FetchFailed otherwise.
        """
        self.ensure()
        done = self._git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",  # FETCH_HEAD is a ref-like file the refs watcher sees
            self.url,
            f"+{ref}:{ref}",
        )
        if done.returncode == 0:
            return True
        if missing_ok and "couldn't find remote ref" in done.stderr:
            return False
        short = ref.removeprefix("refs/heads/")
        raise FetchFailed(f"cannot fetch {short} from {self.display}: {_reason(done, self)}")

    def push(self, commit: str, ref: str) -> Pushed:
        """Push ``commit`` to the remote's ``ref``, never forced: the remote takes it only
        as a fast-forward (or a new ref). PushFailed when the remote was not reached."""
        done = self._git("push", "--porcelain", self.url, f"{commit}:{ref}")
        for line in done.stdout.splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1].endswith(f":{ref}"):
                summary = fields[2].strip("[] ").replace("] (", " (")
                return Pushed(fields[0] in (" ", "*", "="), summary)
        if done.returncode == 0:
            return Pushed(True, "pushed")
        short = ref.removeprefix("refs/heads/")
        raise PushFailed(f"cannot push {short} to {self.display}: {_reason(done, self)}")

    def _git(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # a server has no one to type a password
            "LC_ALL": "C",  # messages are parsed ("couldn't find remote ref")
            "GIT_ALLOW_PROTOCOL": _ALLOWED_PROTOCOLS,
        }
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        try:
            return subprocess.run(
                ["git", *args],
                cwd=cwd or self.path,
                capture_output=True,
                text=True,
                timeout=NETWORK_TIMEOUT,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RemoteError(
                f"git {args[0]} {self.display}: no answer in {NETWORK_TIMEOUT:.0f} s"
            ) from None
        except OSError as exc:
            raise RemoteError(f"git {args[0]} {self.display}: {exc}") from None


def _reason(done: subprocess.CompletedProcess[str], mirror: Mirror) -> str:
    """Git's one-line reason: its first fatal/error line, credentials stripped."""
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    chosen = next((x for x in lines if x.startswith(("fatal:", "error:"))), None)
    chosen = chosen or (lines[-1] if lines else f"git exited with {done.returncode}")
    for prefix in ("fatal:", "error:"):
        chosen = chosen.removeprefix(prefix).strip()
    if mirror.url != mirror.display:
        chosen = chosen.replace(mirror.url, mirror.display)
    return chosen

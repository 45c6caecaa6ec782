"""Source and sink URIs: known schemes, and paths that stay inside the data directory.

Shared by the compiler (which checks them) and the slices (which open them), so it
imports nothing heavy: a slice starts without loading the compiler.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

SOURCE_SCHEMES = ("jsonl", "csv", "parquet", "duckdb", "dir", "stdin")
SINK_SCHEMES = ("jsonl", "csv", "parquet", "duckdb", "stdout")


@dataclass(frozen=True)
class Uri:
    """``scheme://path[#fragment]``; ``path`` is relative to the pipeline's data dir."""

    scheme: str
    path: str
    fragment: str | None

    def __str__(self) -> str:
        return f"{self.scheme}://{self.path}" + (f"#{self.fragment}" if self.fragment else "")


class UriError(ValueError):
    """A URI that cannot be used; the message says why, ``hint`` how to fix it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def parse_uri(text: str, schemes: tuple[str, ...]) -> Uri:
    """Parse and check ``text`` against the allowed ``schemes``."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise UriError(
            f"{text!r} is not a URI", f'write e.g. "{schemes[0]}://data/file.{schemes[0]}"'
        )
    if scheme not in schemes:
        raise UriError(
            f"unknown scheme {scheme!r} in {text!r}",
            f"known schemes here: {', '.join(schemes)}",
        )
    path, _, fragment = rest.partition("#")
    if scheme in ("stdin", "stdout"):
        return Uri(scheme, "", None)
    if not path:
        raise UriError(f"{text!r} names no path", "write a path relative to the data directory")
    if path.startswith("/") or "\\" in path or "\0" in path:
        raise UriError(
            f"{text!r} is an absolute path",
            "paths are relative to the pipeline's data directory "
            "(the repository root for runi run)",
        )
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise UriError(
            f"{text!r} leaves the pipeline's data directory",
            "a URI may never escape its data directory; remove the '..'",
        )
    if scheme == "duckdb":
        if not fragment:
            raise UriError(
                f"{text!r} names no table",
                "write duckdb://file.duckdb#schema.table (or #table)",
            )
        parts = fragment.split(".")
        if len(parts) > 2 or not all(p.isidentifier() for p in parts):
            raise UriError(
                f"{fragment!r} is not a table name",
                "write #table or #schema.table, with letters, digits and '_'",
            )
    elif fragment:
        raise UriError(f"{scheme}:// URIs take no '#' part", "remove the '#...'")
    return Uri(scheme, normal, fragment or None)

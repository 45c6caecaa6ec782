"""Barn key space (DESIGN §6): one function per key, so no module spells a key by hand.

``<pipeline>`` in a key is the herd-local part of the pipeline id, ``<feature>/<scenario>``,
so ``/pipelines/finance/trades/validate-trades`` holds pipeline ``finance/trades/validate-trades``.
"""

from __future__ import annotations

import re

#: Herd, pipeline, node, run and secret names: what may appear between two slashes.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


class KeyNameError(ValueError):
    """A name would not make a single, unambiguous key segment."""


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid segment, else KeyNameError naming ``kind``."""
    if not NAME.match(name):
        raise KeyNameError(
            f"invalid {kind} name {name!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )
    return name


def local_pipeline(herd: str, pipeline: str) -> str:
    """A pipeline's name inside its herd, ``<feature>/<scenario>``.

    Accepts the pipeline id (``finance/trades/validate-trades``, what Plans and runs
    carry) or the herd-local name (``trades/validate-trades``).
    """
    check_name("herd", herd)
    local = pipeline.removeprefix(f"{herd}/") if pipeline.count("/") == 2 else pipeline
    parts = local.split("/")
    if len(parts) != 2:
        raise KeyNameError(
            f"invalid pipeline {pipeline!r}: expected <herd>/<feature>/<scenario> "
            f"(e.g. {herd}/trades/validate-trades)"
        )
    for part in parts:
        check_name("pipeline", part)
    return local


def pipeline_id(herd: str, pipeline: str) -> str:
    """The full pipeline id ``<herd>/<feature>/<scenario>``."""
    return f"{herd}/{local_pipeline(herd, pipeline)}"


def source_key(repo: str) -> str:
    return f"/sources/{check_name('repository', repo)}"


def herd_key(herd: str) -> str:
    return f"/herds/{check_name('herd', herd)}"


def pipelines_prefix(herd: str) -> str:
    return f"/pipelines/{check_name('herd', herd)}/"


def pipeline_key(herd: str, pipeline: str) -> str:
    return pipelines_prefix(herd) + local_pipeline(herd, pipeline)


def node_key(node: str) -> str:
    return f"/nodes/{check_name('node', node)}"


def assignments_prefix(node: str) -> str:
    return f"/assignments/{check_name('node', node)}/"


def assignment_key(node: str, herd: str, pipeline: str) -> str:
    return assignments_prefix(node) + pipeline_id(herd, pipeline)


def status_key(herd: str, pipeline: str) -> str:
    return f"/status/{pipeline_id(herd, pipeline)}"


def runs_prefix(herd: str, pipeline: str | None = None) -> str:
    base = f"/runs/{check_name('herd', herd)}/"
    return base if pipeline is None else base + f"{local_pipeline(herd, pipeline)}/"


def run_key(herd: str, pipeline: str, run_id: str) -> str:
    return runs_prefix(herd, pipeline) + check_name("run", run_id)


LINEAGE_PENDING_PREFIX = "/lineage/pending/"


def lineage_pending_key(run_id: str) -> str:
    """Where a finished run's events wait for the lineage controller."""
    return LINEAGE_PENDING_PREFIX + check_name("run", run_id)


def checkpoint_key(herd: str, pipeline: str) -> str:
    """``/checkpoints/<herd>/<feature>/<scenario>``: a stream's committed source offsets."""
    return f"/checkpoints/{check_name('herd', herd)}/{local_pipeline(herd, pipeline)}"


def secrets_prefix(herd: str) -> str:
    return f"/secrets/{check_name('herd', herd)}/"


def secret_key(herd: str, name: str) -> str:
    return secrets_prefix(herd) + check_name("secret", name)


HERDS_PREFIX = "/herds/"
NODES_PREFIX = "/nodes/"
SOURCES_PREFIX = "/sources/"
ASSIGNMENTS_PREFIX = "/assignments/"


def status_prefix(herd: str) -> str:
    return f"/status/{check_name('herd', herd)}/"


def last_segment(key: str) -> str:
    """The final name of a key (``/runs/h/p/r1`` -> ``r1``)."""
    return key.rsplit("/", 1)[-1]

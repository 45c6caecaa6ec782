"""Prometheus metrics of every Runink component, defined once at module level.

Metrics live in prometheus-client's default registry so one ``/metrics`` endpoint
serves them all. Labels never hold run ids or record values (DESIGN.md section 9).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

# Barn (runink.barn): one label, the member name, so several members in one process
# (tests, `runi up`) do not overwrite each other.
BARN_IS_LEADER = Gauge(
    "runink_barn_is_leader", "1 if this Barn member is the Raft leader, else 0", ["member"]
)
BARN_HAS_LEADER = Gauge(
    "runink_barn_has_leader", "1 if this Barn member knows a leader, else 0", ["member"]
)
BARN_TERM = Gauge("runink_barn_term", "Current Raft term of this Barn member", ["member"])
BARN_COMMIT_INDEX = Gauge(
    "runink_barn_commit_index", "Raft commit index of this Barn member", ["member"]
)
BARN_LEADER_CHANGES = Counter(
    "runink_barn_leader_changes_total",
    "Times this Barn member saw the leader change (including to none)",
    ["member"],
)
BARN_APPLY_DURATION = Histogram(
    "runink_barn_apply_duration_seconds",
    "Time to apply one committed command to the state machine",
    ["member"],
    buckets=(0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1),
)
BARN_WRITES = Counter(
    "runink_barn_writes_total",
    "Commands applied that changed the store (one per new revision)",
    ["member"],
)

# Reconciler (reconciler/): one label set per controller, never per key.
RECONCILE_TOTAL = Counter(
    "runink_reconcile_total",
    "Reconcile passes by controller and result (success, error, requeue)",
    ["controller", "result"],
)
RECONCILE_DURATION = Histogram(
    "runink_reconcile_duration_seconds",
    "Time one reconcile pass took, by controller",
    ["controller"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)
CONTROLLER_LEADER = Gauge(
    "runink_controller_leader",
    "1 while this server holds the controller lease (its controllers act), else 0",
    ["identity"],
)

# Pipelines (reconciler/status.py): one series per pipeline, its labels its verdict.
PIPELINE_INFO = Gauge(
    "runink_pipeline_info",
    "1 per pipeline; labels carry its desired/running revision, sync and health status",
    ["herd", "pipeline", "revision", "sync_status", "health_status"],
)

# Node agent (agent/): slices by state, restarts, OOM kills, records per step.
SLICES = Gauge(
    "runink_slices",
    "Slices of assigned pipelines on this node, by state",
    ["herd", "node", "state"],
)
SLICE_RESTARTS = Counter(
    "runink_slice_restarts_total",
    "Slices restarted after their run failed (the run restarts with backoff)",
    ["herd", "pipeline", "step", "node"],
)
SLICE_OOM_KILLS = Counter(
    "runink_slice_oom_kills_total",
    "Slices the cgroup OOM killer ended",
    ["herd", "pipeline", "step", "node"],
)
RECORDS = Counter(
    "runink_records_total",
    "Records through each step of finished runs, by outcome (in, out, dlq, filtered...)",
    ["herd", "pipeline", "step", "outcome"],
)
SELFHEAL = Counter(
    "runink_selfheal_total",
    "Hand-made drift the agent undid under a herd's cgroup: stranger (a process or cgroup it "
    "did not start, killed), limits (a limit changed by hand, put back), moved (a slice moved "
    "out of its cgroup, killed and restarted)",
    ["herd", "kind"],
)


# Server-side views of Barn state (reconciler/exporter.py): computed at scrape time by a
# collector from what Barn holds, so every server member exports the same truth and a
# restarted server loses nothing but the counters' history.
@dataclass(frozen=True)
class Family:
    """A metric a collector computes at scrape time: its name, HELP text and labels."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


PIPELINE_RECORDS = Family(
    "runink_pipeline_records_total",
    "Records of a pipeline's finished runs: read by sources, written by sinks, sent to the "
    "DLQ, filtered (summed over the run records Barn keeps)",
    ("herd", "pipeline", "outcome"),
)
PIPELINE_LAST_SUCCESS = Family(
    "runink_pipeline_last_success_timestamp_seconds",
    "End time of the pipeline's last successful run (Unix seconds)",
    ("herd", "pipeline"),
)
PIPELINE_SLO_DLQ_RATIO = Family(
    "runink_pipeline_slo_dlq_ratio",
    "The pipeline's DLQ ratio objective (@slo dlq_ratio=), only where declared",
    ("herd", "pipeline"),
)
PIPELINE_SLO_FRESHNESS = Family(
    "runink_pipeline_slo_freshness_seconds",
    "How old the pipeline's last success may get: @slo freshness=, else twice its "
    "@schedule interval",
    ("herd", "pipeline"),
)
SOURCE_READY = Family(
    "runink_source_ready",
    "1 when the repository's latest fetched commit is applied; 0 when it failed to fetch, "
    "validate or apply (or is still being applied)",
    ("repo",),
)
SOURCE_LAST_APPLIED = Family(
    "runink_source_last_applied_timestamp_seconds",
    "When a commit of the repository was last applied to Barn (Unix seconds)",
    ("repo",),
)
NODE_READY = Family(
    "runink_node_ready",
    "1 while the node's lease is live, 0 once it expired (nodes seen by this server)",
    ("node",),
)
LINEAGE_PENDING = Family(
    "runink_lineage_pending", "Finished runs whose lineage waits to be committed to git"
)
LINEAGE_OLDEST_PENDING_AGE = Family(
    "runink_lineage_oldest_pending_age_seconds",
    "Age of the oldest run waiting for its lineage commit; 0 when none waits",
)

# Lineage controller (reconciler/lineage.py): commits of runs' events to git.
LINEAGE_COMMITS = Counter(
    "runink_lineage_commits_total",
    "Lineage commits: committed (the branch moved), conflict (the branch moved under us; "
    "rebuilt on the new tip), failed (git refused; the runs stay pending)",
    ["result"],
)
LINEAGE_COMMIT_DURATION = Histogram(
    "runink_lineage_commit_duration_seconds",
    "Time to build, sign and land one batch of runs on the lineage branch",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

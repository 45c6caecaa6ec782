"""Prometheus metrics of every Runink component, defined once at module level.

Metrics live in prometheus-client's default registry so one ``/metrics`` endpoint
serves them all. Labels never hold run ids or record values (DESIGN.md section 9).
"""

from __future__ import annotations

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

"""OpenLineage events of pipeline runs (DESIGN §8; docs/lineage.md)."""

from runink.lineage.events import (
    PRODUCER,
    SCHEMA_URL,
    DatasetName,
    dataset_name,
    end_event,
    job_namespace,
    run_events,
    start_event,
    to_dict,
    to_json,
    write_events,
)

__all__ = [
    "PRODUCER",
    "SCHEMA_URL",
    "DatasetName",
    "dataset_name",
    "end_event",
    "job_namespace",
    "run_events",
    "start_event",
    "to_dict",
    "to_json",
    "write_events",
]

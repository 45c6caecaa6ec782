"""Slice isolation: cgroups, namespaces, network namespaces, rlimits, spawner."""

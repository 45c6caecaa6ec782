"""A pipeline repository at a commit (or a working dir) -> RepoSnapshot; validation."""

from runink.repo.herd import Herd, NetworkPolicy, Quota, Rule
from runink.repo.loader import RepoLoader, load_repo, load_tree
from runink.repo.settings import RepositorySettings
from runink.repo.snapshot import Changes, GoldenSet, RepoSnapshot, SourceFile
from runink.repo.sources import CommitTree, DirectoryTree, RawFile, Tree, open_tree

__all__ = [
    "Changes",
    "CommitTree",
    "DirectoryTree",
    "GoldenSet",
    "Herd",
    "NetworkPolicy",
    "Quota",
    "RawFile",
    "RepoLoader",
    "RepoSnapshot",
    "RepositorySettings",
    "Rule",
    "SourceFile",
    "Tree",
    "load_repo",
    "load_tree",
    "open_tree",
]

"""A pipeline repository at a commit (or a working dir) -> RepoSnapshot; validation."""

from runink.repo.herd import Herd, NetworkPolicy, Quota, Rule
from runink.repo.loader import LoadCache, load_repo, load_tree
from runink.repo.settings import RepositorySettings
from runink.repo.snapshot import GoldenSet, RepoSnapshot, SourceFile
from runink.repo.sources import CommitTree, DirectoryTree, RawFile, Tree, open_tree

__all__ = [
    "CommitTree",
    "DirectoryTree",
    "GoldenSet",
    "Herd",
    "LoadCache",
    "NetworkPolicy",
    "Quota",
    "RawFile",
    "RepoSnapshot",
    "RepositorySettings",
    "Rule",
    "SourceFile",
    "Tree",
    "load_repo",
    "load_tree",
    "open_tree",
]

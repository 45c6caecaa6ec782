"""Runink: declarative GitOps for data pipelines.

Public API for user step modules: :func:`step`.
"""

from runink.steps.registry import step

__version__ = "0.1.0"
__all__ = ["__version__", "step"]

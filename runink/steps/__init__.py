"""Built-in steps, sources and sinks, and the ``@step`` registry for user code."""

from runink.steps.registry import RegisteredStep, registered, step

__all__ = ["RegisteredStep", "registered", "step"]

"""Framing, slice process main, local executor, DLQ, checkpoints (DESIGN §5)."""

from runink.runtime.framing import (
    FrameReader,
    FrameWriter,
    FramingError,
    TruncatedStream,
    set_pipe_size,
)

__all__ = ["FrameReader", "FrameWriter", "FramingError", "TruncatedStream", "set_pipe_size"]

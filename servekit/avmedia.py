"""What services that read media containers with PyAV share (PyAV itself stays an import of those services)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import av
    from av.container import InputContainer


def declared_duration(container: InputContainer, stream: av.AudioStream | av.VideoStream) -> float | None:
    """Seconds the container says ``stream`` lasts (the stream's own duration first, else the container's), or
    ``None`` when it says nothing: a claim to check against the limits before decoding, never a fact."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000.0
    return None

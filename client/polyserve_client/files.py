"""Files as the API takes them: multipart parts, base64 strings or data URIs."""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from pathlib import Path

FileLike = str | Path | bytes


@dataclass(frozen=True)
class Upload:
    """A file's name, bytes and media type."""

    name: str
    data: bytes
    mimetype: str

    def part(self) -> tuple[str, bytes, str]:
        """The ``(filename, bytes, content type)`` triple requests sends as a multipart part."""
        return (self.name, self.data, self.mimetype)

    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_uri(self) -> str:
        return f"data:{self.mimetype};base64,{self.b64()}"


def load(file: FileLike, name: str = "upload") -> Upload:
    """A path (str or Path) is read from disk; bytes are taken as they are."""
    if isinstance(file, bytes):
        return Upload(name, file, "application/octet-stream")
    path = Path(file)
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Upload(path.name, path.read_bytes(), mimetype)


def to_b64(file: FileLike) -> str:
    """base64 of a file's bytes, as the JSON forms of the API take them."""
    return load(file).b64()


def modality_of(path: Path) -> str | None:
    """``image``, ``audio`` or ``text`` from the file's media type; None for anything else."""
    mimetype = mimetypes.guess_type(path.name)[0] or ""
    if mimetype.startswith("image/"):
        return "image"
    if mimetype.startswith("audio/") or path.suffix.lower() in {".ogg", ".opus", ".webm", ".m4a", ".flac"}:
        return "audio"
    if mimetype.startswith("text/") or path.suffix.lower() in {".md", ".txt"}:
        return "text"
    return None

"""Train a fusion head from the command line:

    python -m services.fusion.train --name topics --examples examples.jsonl [--epochs 200]

Each line of the examples file is a JSON object ``{"text"?, "image"?, "audio"?, "label"}`` (image and audio as
base64 or data: URIs, or ``"image_path"`` / ``"audio_path"`` naming a file). The encoders are reached and the head
saved where the ``FUSION_*`` settings say; a running fusion service picks the new version up on first use.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from servekit.errors import ApiError
from services.fusion.features import Inputs
from services.fusion.runtime import FusionRuntime
from services.fusion.settings import FusionSettings
from services.fusion.training import train_from_examples


def _media(entry: dict[str, Any], modality: str, base: Path) -> str | None:
    if entry.get(modality) is not None:
        return str(entry[modality])
    path = entry.get(f"{modality}_path")
    return base64.b64encode((base / path).read_bytes()).decode("ascii") if path else None


def read_examples(path: Path) -> list[tuple[Inputs, str]]:
    """The labelled examples of a JSON-lines file (paths relative to the file's folder)."""
    examples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if "label" not in entry:
            raise ValueError(f"{path}:{number}: every example needs a label")
        inputs = Inputs(entry.get("text"), _media(entry, "image", path.parent), _media(entry, "audio", path.parent))
        if not inputs.modalities():
            raise ValueError(f"{path}:{number}: give text, image or audio")
        examples.append((inputs, str(entry["label"])))
    return examples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="head name; each run saves its next version")
    parser.add_argument("--examples", required=True, type=Path, help="JSON-lines file of labelled examples")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default FUSION_HEAD_EPOCHS)")
    args = parser.parse_args(argv)
    runtime = FusionRuntime.build(FusionSettings())
    try:
        head = train_from_examples(runtime, args.name, read_examples(args.examples), args.epochs)
    except (ApiError, ValueError) as error:
        print(f"training failed: {getattr(error, 'message', error)}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(json.dumps(head.describe(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

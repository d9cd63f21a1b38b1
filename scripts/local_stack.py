"""Start the whole local stack under honcho (a Procfile process manager) with generated local secrets.

The first run writes ``.run/local.env`` with a random internal token and API key; later runs reuse it, so
the key printed here keeps working. Values already set in the environment win over the file.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ENV_FILE = ROOT / ".run" / "local.env"


def ensure_env_file(env_file: Path) -> dict[str, str]:
    """Read the local secrets, writing fresh ones first if there are none yet."""
    if not env_file.exists():
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(
            f"POLYSERVE_INTERNAL_TOKEN={secrets.token_urlsafe(32)}\n"
            f"GATEWAY_API_KEYS=sk-local-{secrets.token_urlsafe(24)}\n"
            "HF_HUB_OFFLINE=1\n"
        )
        env_file.chmod(0o600)
    values = {}
    for line in env_file.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help="where the local secrets live")
    args = parser.parse_args()
    values = {**ensure_env_file(args.env_file), **{k: v for k, v in os.environ.items() if k.startswith(
        ("POLYSERVE_", "GATEWAY_", "TEXT_", "VISION_", "AUDIO_", "FUSION_"))}}
    os.environ.update(values)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
    port = os.environ.get("GATEWAY_PORT", "8080")
    api_key = values.get("GATEWAY_API_KEYS", "").split(",")[0]
    print(f"gateway: http://{host}:{port}  (API key: {api_key}; models load in the background, "
          f"GET /readyz says when)", flush=True)
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    honcho = str(bin_dir / "honcho")
    os.execv(honcho, [honcho, "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)])


if __name__ == "__main__":
    main()

"""Create the secrets Docker Compose reads, once: the internal token env file and the gateway's API key file.

``deploy/compose/polyserve.env`` (from polyserve.env.example, with a fresh random POLYSERVE_INTERNAL_TOKEN) and
``deploy/compose/secrets/api_keys.txt`` (one random API key), both git-ignored. Existing files are kept, so
running it again never rotates a key behind the operator's back. The API key file is mounted into the gateway
container, which runs as uid 10001: it is world-readable inside a directory only its owner may enter.
"""

from __future__ import annotations

import secrets
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = "replace-with-a-long-random-token"


def write_env_file(target: Path, example: Path) -> bool:
    if target.exists():
        return False
    target.write_text(example.read_text().replace(PLACEHOLDER, secrets.token_urlsafe(32)))
    target.chmod(0o600)
    return True


def write_api_keys(target: Path) -> bool:
    if target.exists():
        return False
    target.parent.mkdir(mode=0o700, exist_ok=True)
    target.write_text(f"sk-{secrets.token_urlsafe(24)}\n")
    target.chmod(0o644)
    return True


def main() -> None:
    env_file, keys_file = HERE / "polyserve.env", HERE / "secrets" / "api_keys.txt"
    if write_env_file(env_file, HERE / "polyserve.env.example"):
        print(f"wrote {env_file} (internal token)")
    if write_api_keys(keys_file):
        print(f"wrote {keys_file}; API key: {keys_file.read_text().strip()}")
    print("compose secrets ready: docker compose --profile gpu up -d   (or --profile cpu)")


if __name__ == "__main__":
    main()

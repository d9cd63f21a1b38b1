"""Start the whole local stack under supervisord (a service that dies is restarted alone) with local secrets.

The first run writes ``.run/local.env`` with a random internal token and API key; later runs reuse it, so
the key printed here keeps working. Values already set in the environment win over the file.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
from pathlib import Path

from supervised_stack import exec_supervisord

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


def local_procfile(run_dir: Path, redis_port: int | None) -> Path:
    """The Procfile plus a Redis server (rate-limit counters, result cache, job queue) when one can run here;
    without Redis the gateway keeps limits and cache in memory and the job worker is left out."""
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    if redis_port is None:
        lines = [line for line in lines if not line.startswith("worker:")]
    else:
        redis_dir = run_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        lines.append(f"redis: redis-server --bind 127.0.0.1 --port {redis_port} --dir {redis_dir} "
                     "--appendonly yes --save ''")
    procfile = run_dir / "Procfile"
    procfile.write_text("\n".join(lines) + "\n")
    return procfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help="where the local secrets live")
    parser.add_argument("--redis-port", type=int, default=6379, help="port of the local Redis server")
    args = parser.parse_args()
    redis_port = None
    if "GATEWAY_REDIS_URL" not in os.environ and shutil.which("redis-server"):
        redis_port = args.redis_port
        os.environ["GATEWAY_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    values = {**ensure_env_file(args.env_file), **{k: v for k, v in os.environ.items() if k.startswith(
        ("POLYSERVE_", "GATEWAY_", "TEXT_", "VISION_", "AUDIO_", "FUSION_"))}}
    os.environ.update(values)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # Locally, "ready" means every service has loaded its models.
    os.environ.setdefault("GATEWAY_READY_REQUIRES", "text,vision,audio,fusion")
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
    port = os.environ.get("GATEWAY_PORT", "8080")
    api_key = values.get("GATEWAY_API_KEYS", "").split(",")[0]
    print(f"gateway: http://{host}:{port}  (API key: {api_key}; models load in the background, "
          f"GET /readyz says when)", flush=True)
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    if redis_port is None and "GATEWAY_REDIS_URL" not in os.environ:
        print("redis-server not found: limits and cache stay in memory, asynchronous jobs are off", flush=True)
    procfile = local_procfile(args.env_file.parent, redis_port)
    exec_supervisord(procfile, args.env_file.parent, ROOT, bin_dir)


if __name__ == "__main__":
    main()

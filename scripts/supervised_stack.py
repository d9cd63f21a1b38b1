"""Run the local stack's processes under supervisord: one dying is restarted alone, the others keep serving.

honcho (a Procfile runner) stops every process when one exits; supervisord (PyPI ``supervisor``) restarts the
one that died and leaves the rest alone. This writes a supervisord configuration from Procfile lines
(``name: command``) into the run folder and replaces the current process with supervisord in the foreground,
so Ctrl-C still stops the whole stack. ``supervisorctl -c .run/supervisord.conf status`` lists the processes;
the gateway's ``/readyz`` says when a restarted service has its models loaded again.
"""

from __future__ import annotations

import os
from pathlib import Path

# Seconds a process must stay up to count as started; a crash after that is restarted without limit.
START_SECONDS = 2
# Quick successive failures (e.g. the port still held by a dying worker) tolerated before giving up.
START_RETRIES = 20
# A service finishing its in-flight requests, or the job worker its running job, before it is killed.
STOP_WAIT_SECONDS = 40


def parse_procfile(lines: list[str]) -> dict[str, str]:
    """``name: command`` lines (blank lines and comments skipped), in order."""
    programs: dict[str, str] = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"not a Procfile line (name: command): {line!r}")
        programs[name.strip()] = command.strip()
    return programs


def _escape(value: str) -> str:
    """supervisord expands ``%(name)s`` in its values: a literal percent sign is written twice."""
    return value.replace("%", "%%")


def program_section(name: str, command: str, directory: Path) -> str:
    """One ``[program:x]``: restarted whenever it exits, its whole process group stopped, output to ours."""
    return "\n".join([
        f"[program:{name}]",
        f"command={_escape(command)}",
        f"directory={_escape(str(directory))}",
        "autostart=true",
        "autorestart=true",
        f"startsecs={START_SECONDS}",
        f"startretries={START_RETRIES}",
        "stopsignal=TERM",
        f"stopwaitsecs={STOP_WAIT_SECONDS}",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        "stdout_logfile=/dev/stdout",
        "stdout_logfile_maxbytes=0",
    ])


def supervisord_config(programs: dict[str, str], run_dir: Path, directory: Path) -> str:
    """The whole configuration: supervisord in the foreground, a control socket in ``run_dir``, the programs."""
    run = _escape(str(run_dir.resolve()))
    head = "\n".join([
        "[supervisord]",
        "nodaemon=true",
        "logfile=/dev/stdout",
        "logfile_maxbytes=0",
        f"pidfile={run}/supervisord.pid",
        f"childlogdir={run}",
        "",
        "[unix_http_server]",
        f"file={run}/supervisor.sock",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{run}/supervisor.sock",
    ])
    sections = [program_section(name, command, directory) for name, command in programs.items()]
    return "\n\n".join([head, *sections]) + "\n"


def exec_supervisord(procfile: Path, run_dir: Path, directory: Path, bin_dir: Path) -> None:
    """Write ``run_dir/supervisord.conf`` from ``procfile`` and become supervisord (never returns)."""
    config = run_dir / "supervisord.conf"
    config.write_text(supervisord_config(parse_procfile(procfile.read_text().splitlines()), run_dir, directory))
    supervisord = str(bin_dir / "supervisord")
    os.execv(supervisord, [supervisord, "-c", str(config)])

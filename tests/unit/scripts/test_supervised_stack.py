"""The supervisord configuration `make run` writes: every Procfile process restarted on its own, read back by
supervisor's own configuration parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from scripts.supervised_stack import parse_procfile, supervisord_config

PROCFILE = ["text: python -m servekit.serve text", "", "# a comment", "redis: redis-server --save '' --port 1%2"]


def load(config: str, tmp_path: Path) -> ServerOptions:
    path = tmp_path / "supervisord.conf"
    path.write_text(config)
    options = ServerOptions()
    options.configfile = str(path)
    options.process_config(do_usage=False)
    return options


def test_procfile_lines_become_programs_in_order() -> None:
    assert parse_procfile(PROCFILE) == {"text": "python -m servekit.serve text",
                                        "redis": "redis-server --save '' --port 1%2"}


@pytest.mark.parametrize("line", ["no colon here", ": no name", "name:"])
def test_a_malformed_procfile_line_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="not a Procfile line"):
        parse_procfile([line])


def test_supervisor_reads_the_config_and_restarts_each_program_alone(tmp_path: Path) -> None:
    options = load(supervisord_config(parse_procfile(PROCFILE), tmp_path, tmp_path), tmp_path)
    groups = {group.name: group.process_configs[0] for group in options.process_group_configs}
    assert set(groups) == {"text", "redis"}
    redis = groups["redis"]
    assert redis.command == "redis-server --save '' --port 1%2"  # a literal percent sign survives
    assert redis.directory == str(tmp_path)
    for program in groups.values():
        assert program.autorestart is RestartUnconditionally and program.stopasgroup and program.killasgroup
    assert options.nodaemon is True

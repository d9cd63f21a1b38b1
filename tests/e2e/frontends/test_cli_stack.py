"""The ``polyserve`` command against the real stack, run as a user runs it (a process, configured by environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.frontends.conftest import UserStack
from tests.support.processes import ROOT

pytestmark = pytest.mark.e2e


def polyserve(stack: UserStack, *args: str, tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLYSERVE_URL": stack.url, "POLYSERVE_API_KEY": stack.api_key, "COLUMNS": "200"}
    if tmp is not None:
        env["XDG_STATE_HOME"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "polyserve_client", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=600)


def test_classify_prints_a_table_and_json(user_stack: UserStack, media: Path) -> None:
    table = polyserve(user_stack, "classify", str(media / "photos" / "chelsea.png"))
    assert table.returncode == 0, table.stderr
    assert "Egyptian cat" in table.stdout and "chelsea.png" in table.stdout
    as_json = polyserve(user_stack, "--json", "classify", str(media / "photos" / "chelsea.png"))
    assert json.loads(as_json.stdout)["data"][0]["labels"][0]["label"] == "Egyptian cat"


def test_transcribe_formats(user_stack: UserStack, media: Path) -> None:
    srt = polyserve(user_stack, "transcribe", str(media / "speech.wav"), "--format", "srt", "--language", "en")
    assert srt.returncode == 0, srt.stderr
    assert "00:00:00,000 -->" in srt.stdout and "fox" in srt.stdout.lower()
    vtt = polyserve(user_stack, "transcribe", str(media / "speech.wav"), "--format", "vtt", "--language", "en")
    assert vtt.stdout.startswith("WEBVTT")
    verbose = json.loads(polyserve(user_stack, "transcribe", str(media / "speech.wav"), "--format", "json").stdout)
    assert verbose["segments"] and "fox" in verbose["text"].lower()


def test_transcription_as_a_job_is_listed(user_stack: UserStack, media: Path, tmp_path: Path) -> None:
    run = polyserve(user_stack, "transcribe", str(media / "speech.wav"), "--format", "text", "--job", tmp=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "fox" in run.stdout.lower()
    listed = json.loads(polyserve(user_stack, "--json", "jobs", "list", tmp=tmp_path).stdout)
    assert [job["status"] for job in listed] == ["succeeded"]
    waited = polyserve(user_stack, "jobs", "wait", listed[0]["id"], tmp=tmp_path)
    assert "fox" in waited.stdout.lower()


def test_ingest_a_folder_resumes_and_reports_failures(user_stack: UserStack, media: Path) -> None:
    assert polyserve(user_stack, "collections", "create", "cli_media").returncode == 0
    first = polyserve(user_stack, "--json", "ingest", str(media), "--collection", "cli_media")
    assert first.returncode == 1, first.stderr  # broken.png fails, the rest goes in
    report = json.loads(first.stdout)
    assert report["upserted"] == 5 and list(report["failed"]) == ["broken.png"]
    assert report["failed"]["broken.png"].split(":")[0]  # the API's code
    again = json.loads(polyserve(user_stack, "--json", "ingest", str(media), "--collection", "cli_media").stdout)
    assert again["skipped"] == 5 and again["upserted"] == 0
    search = polyserve(user_stack, "--json", "search", "cli_media", "--text", "a cup of coffee", "--top-k", "3")
    assert json.loads(search.stdout)["data"][0]["id"] == "photos/coffee.png"
    listed = polyserve(user_stack, "collections", "list")
    assert "cli_media" in listed.stdout
    assert polyserve(user_stack, "collections", "delete", "cli_media").returncode == 0


def test_an_api_error_prints_its_code(user_stack: UserStack) -> None:
    run = polyserve(user_stack, "collections", "delete", "no_such_collection")
    assert run.returncode == 2
    assert "404 collection_not_found" in run.stderr

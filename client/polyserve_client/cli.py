"""``polyserve``: the command line on the client. Tables by default, ``--json`` for scripts; the gateway and key
come from ``--url`` / ``--api-key`` or ``POLYSERVE_URL`` / ``POLYSERVE_API_KEY``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from polyserve_client.client import DEFAULT_TEXT_MODEL, Polyserve, chat_message
from polyserve_client.errors import PolyserveError
from polyserve_client.ingest import SourceFile, ingest_folder, source_files
from polyserve_client.job_log import JobLog
from polyserve_client.jobs import Job

app = typer.Typer(help="polyserve from the command line.", no_args_is_help=True)
collections_app = typer.Typer(help="Create, list and delete collections.", no_args_is_help=True)
jobs_app = typer.Typer(help="Jobs submitted from this machine: list, wait, cancel.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")
app.add_typer(jobs_app, name="jobs")
out = Console()
err = Console(stderr=True)


@dataclass(frozen=True)
class Context:
    client: Polyserve
    as_json: bool


Files = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Image files.")]


@app.callback()
def setup(ctx: typer.Context,
          url: Annotated[str, typer.Option(envvar="POLYSERVE_URL", help="Gateway URL.")] = "http://127.0.0.1:8080",
          api_key: Annotated[str | None, typer.Option(envvar="POLYSERVE_API_KEY", help="API key.")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
          timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 300.0) -> None:
    ctx.obj = Context(Polyserve(url, api_key, timeout_s=timeout), as_json)


def _ctx(ctx: typer.Context) -> Context:
    context: Context = ctx.obj
    return context


def _print_json(value: Any) -> None:
    out.print_json(json.dumps(value))


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{cell:.4f}" if isinstance(cell, float) else str(cell) for cell in row))
    out.print(table)


def _show(ctx: typer.Context, answer: Any, title: str, columns: list[str], rows: list[list[Any]]) -> None:
    if _ctx(ctx).as_json:
        _print_json(answer)
    else:
        _table(title, columns, rows)


def _per_image(answer: dict[str, Any], files: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    """(file name, entry) for each image; an image that failed shows its error code and message."""
    return [(files[entry["index"]].name, entry) for entry in answer.get("data", [])]


def _error_row(entry: dict[str, Any]) -> str:
    error = entry.get("error") or {}
    return f"error {error.get('code')}: {error.get('message')}"


@app.command()
def classify(ctx: typer.Context, files: Files,
             top_k: Annotated[int, typer.Option(help="Labels per image.")] = 5,
             model: Annotated[str | None, typer.Option(help="Model id.")] = None) -> None:
    """Label images (ImageNet classes)."""
    answer = _ctx(ctx).client.classify(files, top_k=top_k, model=model)
    rows = [[name, label["label"], label["score"]] for name, entry in _per_image(answer, files)
            for label in entry.get("labels", [])]
    rows += [[name, _error_row(entry), ""] for name, entry in _per_image(answer, files) if "error" in entry]
    _show(ctx, answer, f"classifications ({answer.get('model')})", ["file", "label", "score"], rows)


@app.command()
def ocr(ctx: typer.Context, files: Files, model: Annotated[str | None, typer.Option()] = None) -> None:
    """Read the text lines in images."""
    answer = _ctx(ctx).client.ocr(files, model=model)
    rows = [[name, line["text"], line.get("confidence", "")] for name, entry in _per_image(answer, files)
            for line in entry.get("lines", [])]
    rows += [[name, _error_row(entry), ""] for name, entry in _per_image(answer, files) if "error" in entry]
    _show(ctx, answer, "OCR", ["file", "line", "confidence"], rows)


@app.command()
def caption(ctx: typer.Context, files: Files, model: Annotated[str | None, typer.Option()] = None) -> None:
    """Caption images (needs a captioning model on the vision service)."""
    answer = _ctx(ctx).client.caption(files, model=model)
    rows = [[name, entry.get("caption") or _error_row(entry)] for name, entry in _per_image(answer, files)]
    _show(ctx, answer, "captions", ["file", "caption"], rows)


@app.command()
def ask(ctx: typer.Context, files: Files,
        question: Annotated[str, typer.Option("--question", "-q", help="The question, asked of every image.")],
        model: Annotated[str | None, typer.Option(help="A model serving 'answer'.")] = None) -> None:
    """Answer a question about each image (visual question answering)."""
    answer = _ctx(ctx).client.ask(files, question, model=model)
    rows = [[name, entry.get("answer") or _error_row(entry)] for name, entry in _per_image(answer, files)]
    _show(ctx, answer, f"answers ({answer.get('model')})", ["file", "answer"], rows)


def _chunk_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


@app.command()
def chat(ctx: typer.Context, prompt: Annotated[str, typer.Argument(help="What to ask.")],
         image: Annotated[list[Path] | None, typer.Option(exists=True, dir_okay=False, help="Images, repeatable.")]
         = None,
         model: Annotated[str | None, typer.Option(help="A model serving 'chat' (default: the first).")] = None,
         max_tokens: Annotated[int | None, typer.Option(help="Answer length bound.")] = None,
         temperature: Annotated[float | None, typer.Option(help="0 is greedy.")] = None,
         stream: Annotated[bool, typer.Option(help="Print the answer as it is generated.")] = False) -> None:
    """Chat with a vision-language model about images (OpenAI-compatible /v1/chat/completions)."""
    client = _ctx(ctx).client
    chosen = model or client.default_model("image", "chat")
    messages = [chat_message(prompt, image or [])]
    options: dict[str, Any] = {key: value for key, value in (("max_tokens", max_tokens), ("temperature", temperature))
               if value is not None}
    if stream:
        for chunk in client.chat(messages, model=chosen, stream=True, **options):
            if _ctx(ctx).as_json:
                sys.stdout.write(json.dumps(chunk) + "\n")
            else:
                sys.stdout.write(_chunk_text(chunk))
            sys.stdout.flush()
        if not _ctx(ctx).as_json:
            sys.stdout.write("\n")
        return
    answer = client.chat(messages, model=chosen, **options)
    if _ctx(ctx).as_json:
        _print_json(answer)
    else:
        sys.stdout.write(str(answer["choices"][0]["message"]["content"]) + "\n")


@app.command()
def rerank(ctx: typer.Context, query: str, documents: Annotated[list[str], typer.Argument(help="Documents.")],
           model: Annotated[str | None, typer.Option(help="A cross-encoder model.")] = None,
           top_n: Annotated[int | None, typer.Option(help="Best N only.")] = None) -> None:
    """Order documents by relevance to a query (cross-encoder)."""
    answer = _ctx(ctx).client.rerank(query, documents, model=model, top_n=top_n)
    rows = [[result["index"], result["relevance_score"], documents[result["index"]][:80]]
            for result in answer.get("results", [])]
    _show(ctx, answer, f"reranked ({answer.get('model')})", ["index", "score", "document"], rows)


@app.command()
def embed(ctx: typer.Context, texts: Annotated[list[str] | None, typer.Argument(help="Texts.")] = None,
          image: Annotated[list[Path] | None, typer.Option(exists=True, help="Image files instead.")] = None,
          audio: Annotated[list[Path] | None, typer.Option(exists=True, help="Audio files instead.")] = None,
          model: Annotated[str | None, typer.Option()] = None) -> None:
    """Embeddings of texts, images or audio clips (one kind per call)."""
    client = _ctx(ctx).client
    if image or audio:
        modality, files = ("image", image) if image else ("audio", audio)
        answer = client.embed_files(files or [], modality=modality, model=model)
        labels = [path.name for path in files or []]
    elif texts:
        answer, labels = client.embeddings(texts, model=model or DEFAULT_TEXT_MODEL), texts
    else:
        raise typer.BadParameter("give texts, --image or --audio")
    rows = [[labels[entry["index"]][:60], len(entry["embedding"]),
             ", ".join(f"{v:.3f}" for v in entry["embedding"][:4]) + ", ..."] for entry in answer["data"]]
    _show(ctx, answer, f"embeddings ({answer.get('model')})", ["input", "dimensions", "vector"], rows)


def _segments_table(answer: dict[str, Any]) -> None:
    rows = [[f"{segment['start']:.2f}", f"{segment['end']:.2f}", segment["text"].strip()]
            for segment in answer.get("segments", [])]
    _table(f"transcript ({answer.get('language', '')}, {answer.get('duration', 0):.1f} s)",
           ["start", "end", "text"], rows)


def _print_transcript_stream(ctx: typer.Context, events: Iterator[dict[str, Any]]) -> None:
    """Deltas as they arrive (or each event as a JSON line with --json)."""
    for event in events:
        if _ctx(ctx).as_json:
            sys.stdout.write(json.dumps(event) + "\n")
        elif event.get("type") == "transcript.text.delta":
            sys.stdout.write(str(event.get("delta", "")))
        sys.stdout.flush()
    if not _ctx(ctx).as_json:
        sys.stdout.write("\n")


@app.command()
def transcribe(ctx: typer.Context, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
               format: Annotated[str, typer.Option("--format", help="srt, vtt, json or text.")] = "text",
               language: Annotated[str | None, typer.Option()] = None,
               model: Annotated[str | None, typer.Option()] = None,
               job: Annotated[bool, typer.Option("--job", help="Run as a job (long recordings).")] = False,
               stream: Annotated[bool, typer.Option(help="Print the text segment by segment as decoded.")] = False
               ) -> None:
    """Transcribe speech; --format srt|vtt gives subtitles, json the segments with timestamps."""
    formats = {"srt": "srt", "vtt": "vtt", "text": "text", "json": "verbose_json"}
    if format not in formats:
        raise typer.BadParameter(f"--format must be one of {', '.join(formats)}")
    client = _ctx(ctx).client
    if stream:
        if format not in {"text", "json"} or job:
            raise typer.BadParameter("--stream prints text as it is decoded: not with --job, --format srt or vtt")
        _print_transcript_stream(ctx, client.transcribe_stream(file, language=language, model=model))
        return
    if job:
        submitted = client.submit_transcription(file, response_format=formats[format], language=language, model=model)
        JobLog().record(submitted, f"transcribe {file.name}")
        answer = _wait_with_spinner(submitted).result()
    else:
        answer = client.transcribe(file, response_format=formats[format], language=language, model=model)
    if isinstance(answer, str):
        sys.stdout.write(answer if answer.endswith("\n") else answer + "\n")
    elif _ctx(ctx).as_json or format == "json":
        _print_json(answer)
    else:
        _segments_table(answer)


@collections_app.command("create")
def collections_create(ctx: typer.Context, name: str,
                       description: Annotated[str | None, typer.Option()] = None) -> None:
    answer = _ctx(ctx).client.create_collection(name, description)
    _show(ctx, answer, "created", ["name", "description"], [[answer.get("name"), answer.get("description", "")]])


@collections_app.command("list")
def collections_list(ctx: typer.Context) -> None:
    data = _ctx(ctx).client.collections()
    rows = [[c.get("name"), c.get("items", ""), c.get("description") or ""] for c in data]
    _show(ctx, data, "collections", ["name", "items", "description"], rows)


@collections_app.command("delete")
def collections_delete(ctx: typer.Context, name: str) -> None:
    answer = _ctx(ctx).client.delete_collection(name)
    _show(ctx, answer, "deleted", ["name"], [[name]])


def _ingest_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), DownloadColumn(),
                    TimeRemainingColumn(), console=err)


@app.command()
def ingest(ctx: typer.Context, folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
           collection: Annotated[str, typer.Option("--collection", "-c", help="Target collection.")],
           resume: Annotated[bool, typer.Option(help="Skip ids the collection already holds.")] = True,
           batch: Annotated[int, typer.Option(help="Files per request.")] = 8) -> None:
    """Upload every image, audio and text file under FOLDER (id = relative path); re-running resumes."""
    client = _ctx(ctx).client
    sources, _ = source_files(folder)
    with _ingest_progress() as progress:
        files_task = progress.add_task("files", total=len(sources))
        bytes_task = progress.add_task("bytes", total=sum(s.size for s in sources))

        def advance(done: list[SourceFile]) -> None:
            progress.advance(files_task, len(done))
            progress.advance(bytes_task, sum(s.size for s in done))

        report = ingest_folder(client, folder, collection, resume=resume, batch_items=batch, on_batch=advance)
        progress.update(files_task, completed=len(sources))
        progress.update(bytes_task, completed=sum(s.size for s in sources))
    summary = {"upserted": len(report.upserted), "skipped": len(report.skipped), "failed": report.failed,
               "unsupported": report.unsupported}
    if _ctx(ctx).as_json:
        _print_json(summary)
    else:
        out.print(f"{len(report.upserted)} upserted, {len(report.skipped)} already there, "
                  f"{len(report.failed)} failed, {len(report.unsupported)} not supported")
        if report.failed:
            _table("failures", ["file", "error"], [[k, v] for k, v in report.failed.items()])
    if report.failed:
        raise typer.Exit(1)


def _weights(values: list[str] | None) -> dict[str, float] | None:
    if not values:
        return None
    try:
        return {key: float(value) for key, value in (item.split("=", 1) for item in values)}
    except ValueError as error:
        raise typer.BadParameter("--weight takes MODALITY=NUMBER, e.g. --weight image=2") from error


@app.command()
def search(ctx: typer.Context, collection: str,
           text: Annotated[str | None, typer.Option(help="Query text.")] = None,
           image: Annotated[Path | None, typer.Option(exists=True, help="Query image.")] = None,
           audio: Annotated[Path | None, typer.Option(exists=True, help="Query audio.")] = None,
           top_k: Annotated[int, typer.Option()] = 5,
           strategy: Annotated[str | None, typer.Option(help="early, intermediate or late.")] = None,
           method: Annotated[str | None, typer.Option(help="Late fusion: weighted_sum, max or rrf.")] = None,
           weight: Annotated[list[str] | None, typer.Option(help="MODALITY=WEIGHT, repeatable.")] = None) -> None:
    """Search a collection by text, image, audio or a mix."""
    answer = _ctx(ctx).client.search(collection, text=text, image=image, audio=audio, top_k=top_k,
                                     strategy=strategy, method=method, weights=_weights(weight))
    rows = [[hit["id"], hit["score"], ", ".join(f"{k} {v:.3f}" for k, v in (hit.get("modality_scores") or {}).items()),
             (hit.get("text") or "")[:60]] for hit in answer.get("data", [])]
    _show(ctx, answer, f"results in {collection}", ["id", "score", "per modality", "text"], rows)


def _wait_with_spinner(job: Job, timeout_s: float = 3600.0) -> Job:
    with err.status(f"job {job.id}: {job.status}") as status:
        return job.wait(timeout_s, on_update=lambda j: status.update(f"job {j.id}: {j.status}"))


@jobs_app.command("list")
def jobs_list(ctx: typer.Context) -> None:
    """Jobs submitted from this machine (the gateway lists no one's jobs), with their current status."""
    log, client = JobLog(), _ctx(ctx).client
    docs = []
    for entry in log.entries():
        try:
            docs.append({**client.job(entry["id"]).doc, "what": entry["what"]})
        except PolyserveError as error:
            docs.append({"id": entry["id"], "what": entry["what"], "status": f"unknown ({error.code})"})
    _show(ctx, docs, "jobs", ["id", "what", "status"], [[d["id"], d["what"], d.get("status")] for d in docs])


@jobs_app.command("wait")
def jobs_wait(ctx: typer.Context, job_id: str,
              timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 3600.0) -> None:
    """Wait for a job, then print its result."""
    result = _wait_with_spinner(_ctx(ctx).client.job(job_id), timeout).result()
    if isinstance(result, str):
        sys.stdout.write(result)
    else:
        _print_json(result)


@jobs_app.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: str) -> None:
    job = _ctx(ctx).client.cancel_job(job_id)
    _show(ctx, job.doc, "job", ["id", "status"], [[job.id, job.status]])


def main() -> None:
    """Entry point: API errors print their code and message and exit 2."""
    try:
        app()
    except PolyserveError as error:
        err.print(f"[red]error[/red] {error.status} {error.code}: {error.message}")
        raise SystemExit(2) from error

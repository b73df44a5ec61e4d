"""Client commands of `jobport`: `files ...`, `jobs ...` and `submit`, driving a server over HTTP
with `jobport.sdk.client`.

Every command takes `--url` (env JOBPORT_URL) and `--api-key` (env JOBPORT_API_KEY, else
JOBPORT_ADMIN_KEY, else the key in `$JOBPORT_HOME/admin.key`). API errors exit 1 with the server's
message and suggestion on stderr; usage errors exit 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from jobport.sdk.client import TERMINAL, JobportClient, JobportError

files_app = typer.Typer(help="Upload and list files (the inputs of jobs).", no_args_is_help=True)
jobs_app = typer.Typer(help="Create, inspect, cancel, retry and download jobs.", no_args_is_help=True)
# Piped output is not wrapped at 80 columns (ids stay whole); a terminal gets its own width.
_PIPE_WIDTH = None if "COLUMNS" in os.environ else 200
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH)

INFERENCE_PORT, SHOTS_PORT = "worker.inference", "worker.n_shots"
STATUS_STYLE = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "yellow", "RUNNING": "cyan",
                "ADMITTED": "cyan", "PREEMPTED": "magenta", "PENDING": "dim"}

UrlOpt = Annotated[str, typer.Option("--url", envvar="JOBPORT_URL", help="Server root URL.")]
KeyOpt = Annotated[str | None, typer.Option(
    "--api-key", envvar="JOBPORT_API_KEY", show_default=False,
    help="API key (default: $JOBPORT_ADMIN_KEY, else the key in $JOBPORT_HOME/admin.key).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DEFAULT_URL = "http://127.0.0.1:8000"

# Options shared by `jobs create` (REF = file id) and `submit` (REF = local path).
InputOpt = Annotated[list[str] | None, typer.Option(
    "--input", "-i", metavar="PORT=REF[:class]",
    help="An input for PORT; ':class' sets metadata.class (n-shot ports).")]
InferenceOpt = Annotated[list[str] | None, typer.Option(
    "--inference", metavar="REF", help=f"Shorthand for --input {INFERENCE_PORT}=REF (machine-state).")]
ShotOpt = Annotated[list[str] | None, typer.Option(
    "--shot", metavar="CLASS=REF", help=f"Shorthand for --input {SHOTS_PORT}=REF:CLASS (machine-state).")]
ConfigOpt = Annotated[str | None, typer.Option(
    "--config", metavar="JSON|@FILE", help="Pipeline config (parameters.worker.config) as JSON or @file.json.")]
PipelineTypeOpt = Annotated[str | None, typer.Option(
    "--pipeline-type", help="batch or training (default: the pipeline's own type).")]


# -- shared helpers ----------------------------------------------------------------------------


def _admin_key() -> str | None:
    from jobport.config import Settings

    settings = Settings()
    if settings.admin_key:
        return settings.admin_key
    path = settings.home / "admin.key"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@contextmanager
def connect(url: str, api_key: str | None) -> Iterator[JobportClient]:
    """A client for the command; turns API and network errors into exit code 1."""
    key = api_key or _admin_key()
    if not key:
        raise typer.BadParameter("no API key: pass --api-key, set JOBPORT_API_KEY or JOBPORT_ADMIN_KEY, "
                                 "or run where $JOBPORT_HOME/admin.key exists", param_hint="--api-key")
    try:
        with JobportClient(url, key, timeout=60.0) as client:
            yield client
    except JobportError as e:
        for item in e.errors:
            err.print(f"[red]error:[/red] {escape(str(item.get('message') or item.get('code')))} "
                      f"[dim]({escape(str(item.get('code')))}, HTTP {e.status_code})[/dim]")
            if item.get("suggestion"):
                err.print(f"  {escape(item['suggestion'])}")
        raise typer.Exit(1) from None
    except httpx.TransportError as e:
        err.print(f"[red]error:[/red] cannot reach {escape(url)}: {escape(str(e) or type(e).__name__)}")
        err.print("  Is `jobport serve` running there? Set --url or JOBPORT_URL.")
        raise typer.Exit(1) from None


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'default')}]{status}[/]"


def _when(value: str | None) -> str:
    return value.replace("T", " ").split(".")[0].rstrip("Z") if value else "-"


def _error_text(error: Any) -> str:
    return escape(str(error.get("message", error) if isinstance(error, dict) else error))


def _progress_text(counts: dict[str, int] | None) -> str:
    if not counts:
        return "-"
    total = sum(counts.values())
    text = f"{counts.get('completed', 0) + counts.get('failed', 0)}/{total}"
    return text + (f" ([red]{counts['failed']} failed[/red])" if counts.get("failed") else "")


def _json_arg(value: str, option: str) -> Any:
    """Parse JSON given inline or as @file."""
    try:
        text = Path(value[1:]).read_text() if value.startswith("@") else value
        return json.loads(text)
    except OSError as e:
        raise typer.BadParameter(f"cannot read {value[1:]}: {e.strerror}", param_hint=option) from None
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"not valid JSON: {e}", param_hint=option) from None


def _json_object_arg(value: str, option: str) -> dict:
    parsed = _json_arg(value, option)
    if not isinstance(parsed, dict):
        raise typer.BadParameter("must be a JSON object", param_hint=option)
    return parsed


def _split_class(ref: str, is_path: bool) -> tuple[str, str | None]:
    """'REF:class' -> (REF, class). For a path that exists as written, no class is split off."""
    if ":" not in ref or (is_path and Path(ref).exists()):
        return ref, None
    base, label = ref.rsplit(":", 1)
    return base, label or None


def parse_inputs(inputs: list[str] | None, inference: list[str] | None, shots: list[str] | None,
                 is_path: bool) -> list[tuple[str, str, str | None]]:
    """The input options as (port, ref, class) triples, in order."""
    items: list[tuple[str, str, str | None]] = []
    for spec in inputs or []:
        port, sep, ref = spec.partition("=")
        if not sep or not port or not ref:
            raise typer.BadParameter(f"{spec!r}: expected PORT=REF[:class]", param_hint="--input")
        items.append((port, *_split_class(ref, is_path)))
    items += [(INFERENCE_PORT, ref, None) for ref in inference or []]
    for spec in shots or []:
        label, sep, ref = spec.partition("=")
        if not sep or not label or not ref:
            raise typer.BadParameter(f"{spec!r}: expected CLASS=REF", param_hint="--shot")
        items.append((SHOTS_PORT, ref, label))
    return items


def build_body(*, pipeline: str, name: str, version: str | None, pipeline_type: str,
               inputs: list[tuple[str, str, str | None]], config: dict | None, parallelism: int | None,
               priority: int | None) -> dict:
    """A POST /v0.5/batch/jobs body; `inputs` holds (port, file_id, class) triples."""
    ports: dict[str, list[dict]] = {}
    for port, file_id, label in inputs:
        ports.setdefault(port, []).append({"file_id": file_id, **({"metadata": {"class": label}} if label else {})})
    body: dict[str, Any] = {"name": name, "pipeline_type": pipeline_type, "pipeline_key": pipeline, "inputs": ports}
    if version:
        body["pipeline_version"] = version
    worker = {k: v for k, v in {"parallelism": parallelism, "config": config}.items() if v is not None}
    if worker:
        body["parameters"] = {"worker": worker}
    if priority is not None:
        body["priority"] = priority
    return body


def _pipeline_type(client: JobportClient, key: str) -> str:
    """The registered type of pipeline `key`; "batch" for an unknown key (create then reports it)."""
    try:
        return client.get_pipeline(key)["pipeline_type"]
    except JobportError as e:
        if e.status_code != 404:
            raise
        return "batch"


def _print_saved(paths: list[Path], dest: Path) -> None:
    out.print(f"{len(paths)} file(s) in {escape(str(dest))}")
    if not paths:
        return
    table = Table("file", "bytes")
    for path in paths:
        table.add_row(escape(path.name), f"{path.stat().st_size:,}")
    out.print(table)


# -- files -------------------------------------------------------------------------------------


@files_app.command("upload")
def files_upload(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="Files to upload.")],
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Upload files; each file's id is its basename (uploading the same name again replaces it)."""
    with connect(url, api_key) as client:
        results = [client.upload_file(p) for p in paths]
    if as_json:
        print_json(results)
        return
    table = Table("file_id", "type", "bytes", "rows")
    for r in results:
        rows = (r.get("file_attributes") or {}).get("num_rows", "")
        table.add_row(escape(r["file_id"]), r["file_type"], f"{r['num_bytes']:,}", str(rows))
    out.print(table)


@files_app.command("list")
def files_list(
    limit: Annotated[int | None, typer.Option(help="Show at most this many (newest first).")] = None,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """List uploaded files, newest first."""
    with connect(url, api_key) as client:
        files = []
        for f in client.iter_files():
            if limit is not None and len(files) >= limit:
                break
            files.append(f)
    if as_json:
        print_json(files)
        return
    table = Table(Column("file_id", overflow="fold"), "type", "bytes", "rows", "updated")
    for f in files:
        rows = (f.get("file_attributes") or {}).get("num_rows", "")
        table.add_row(escape(f["file_id"]), f["file_type"], f"{f['num_bytes']:,}", str(rows),
                      _when(f.get("updated_at")))
    out.print(table)


# -- jobs --------------------------------------------------------------------------------------


@jobs_app.command("create")
def jobs_create(
    pipeline: Annotated[str | None, typer.Option(help="Pipeline key, e.g. machine-state-classification.")] = None,
    name: Annotated[str | None, typer.Option(help="Job name.")] = None,
    input_: InputOpt = None, inference: InferenceOpt = None, shot: ShotOpt = None, config: ConfigOpt = None,
    version: Annotated[str | None, typer.Option(help="Pipeline version (default: latest).")] = None,
    pipeline_type: PipelineTypeOpt = None,
    parallelism: Annotated[int | None, typer.Option(min=1, help="Most inputs processed at once.")] = None,
    priority: Annotated[int | None, typer.Option(help="Higher runs first.")] = None,
    body: Annotated[str | None, typer.Option(metavar="JSON|@FILE", help="Send this full job body instead.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Replays return the same job.")] = None,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create a job over already uploaded files (REF = file id)."""
    if body is not None:
        given = [opt for opt, v in [("--pipeline", pipeline), ("--name", name), ("--input", input_),
                                    ("--inference", inference), ("--shot", shot), ("--config", config),
                                    ("--version", version), ("--parallelism", parallelism),
                                    ("--priority", priority), ("--pipeline-type", pipeline_type)]
                 if v not in (None, [], ())]
        if given:
            raise typer.BadParameter(f"cannot be combined with {', '.join(given)}", param_hint="--body")
        payload = _json_object_arg(body, "--body")
    elif not pipeline or not name:
        raise typer.BadParameter("--pipeline and --name are required (or send --body)",
                                 param_hint="--pipeline" if not pipeline else "--name")
    items = parse_inputs(input_, inference, shot, is_path=False)
    config_obj = _json_object_arg(config, "--config") if config else None
    with connect(url, api_key) as client:
        if body is None:
            assert pipeline and name
            payload = build_body(pipeline=pipeline, name=name, version=version, inputs=items, config=config_obj,
                                 pipeline_type=pipeline_type or _pipeline_type(client, pipeline),
                                 parallelism=parallelism, priority=priority)
        job = client.create_job(payload, idempotency_key=idempotency_key)
    if as_json:
        print_json(job)
        return
    where = f"; queue position {job['queue_position']} of {job['queue_depth']}" if job.get("queue_position") else ""
    out.print(f"created job [bold]{job['id']}[/bold] ({escape(job['name'])}, {_status(job['status'])}{where})")


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...")] = None,
    q: Annotated[str | None, typer.Option("--q", help="Free-text search.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    with connect(url, api_key) as client:
        page = client.list_jobs(status=status.upper() if status else None, q=q, offset=offset, limit=limit)
    if as_json:
        print_json(page)
        return
    shown = len(page["jobs"])
    id_col = Column("id", no_wrap=True, min_width=max((len(j["id"]) for j in page["jobs"]), default=2))
    table = Table(id_col, "name", "pipeline", Column("status", no_wrap=True), "inputs", Column("created", no_wrap=True),
                  caption=f"{offset + 1 if shown else 0}-{offset + shown} of {page['total']}")
    for j in page["jobs"]:
        table.add_row(j["id"], escape(j["name"]), f"{j['pipeline_key']} {j['pipeline_version']}", _status(j["status"]),
                      _progress_text(j.get("input_progress")), _when(j["created_at"]))
    out.print(table)


@jobs_app.command("get")
def jobs_get(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show one job with its input progress."""
    with connect(url, api_key) as client:
        job = client.get_job(job_id)
    if as_json:
        print_json(job)
        return
    table = Table(show_header=False, box=None)
    worker = (job.get("parameters") or {}).get("worker") or {}
    rows = [("id", job["id"]), ("name", escape(job["name"])),
            ("pipeline", f"{job['pipeline_key']} {job['pipeline_version']} ({job['pipeline_type']})"),
            ("status", _status(job["status"])), ("inputs", _progress_text(job.get("input_progress"))),
            ("parallelism", str(worker.get("parallelism", "-"))), ("priority", str(job["priority"])),
            ("retries", str(job["retry_count"]))]
    if job["status"] == "PENDING" and job.get("queue_position"):
        rows.append(("queue", f"{job['queue_position']} of {job['queue_depth']}"))
    for key in ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at"):
        if job.get(key):
            rows.append((key.removesuffix("_at"), _when(job[key])))
    if job.get("error"):
        rows.append(("error", f"[red]{_error_text(job['error'])}[/red]"))
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", value)
    out.print(table)


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[str, typer.Argument(metavar="ID")], url: UrlOpt = DEFAULT_URL,
                api_key: KeyOpt = None) -> None:
    """Cancel a pending or running job."""
    with connect(url, api_key) as client:
        result = client.cancel_job(job_id)
    out.print(f"{result['id']} {_status(result['status'])}")


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[str, typer.Argument(metavar="ID")], url: UrlOpt = DEFAULT_URL,
               api_key: KeyOpt = None) -> None:
    """Re-queue a failed or cancelled job (its failed inputs run again)."""
    with connect(url, api_key) as client:
        result = client.retry_job(job_id)
    out.print(f"{result['id']} {_status(result['status'])} (retry {result['retry_count']})")


@jobs_app.command("download")
def jobs_download(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    dest: Annotated[Path | None, typer.Option(help="Directory (default: ./results/<ID>).")] = None,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None,
) -> None:
    """Download a job's outputs (as many as exist so far)."""
    dest = dest or Path("results") / job_id
    with connect(url, api_key) as client:
        job = client.get_job(job_id)
        if job["status"] not in TERMINAL:
            err.print(f"[yellow]note:[/yellow] {job_id} is {job['status']}; downloading the outputs written so far")
        paths = client.download_outputs(job_id, dest)
    _print_saved(paths, dest)


# -- submit ------------------------------------------------------------------------------------


def _local_files(items: list[tuple[str, str, str | None]]) -> dict[str, Path]:
    """The distinct local files of the inputs by basename (their file id); usage error if one is missing
    or two different files share a basename."""
    by_name: dict[str, Path] = {}
    for _, ref, _ in items:
        path = Path(ref)
        if not path.is_file():
            raise typer.BadParameter(f"{ref}: no such file", param_hint="--input/--inference/--shot")
        other = by_name.setdefault(path.name, path)
        if other.resolve() != path.resolve():
            raise typer.BadParameter(f"{other} and {path} share the name {path.name!r}; file ids are basenames, "
                                     "so rename one", param_hint="--input/--inference/--shot")
    return by_name


def _item_counts(client: JobportClient, job_id: str) -> tuple[int, int] | None:
    """Items (records, windows...) done and in all over the job's inputs that report progress."""
    done = total = 0
    for item in client.input_progress(job_id):
        metrics = (item.get("latest_progress") or {}).get("metrics") or {}
        if metrics.get("items_total"):
            done += metrics.get("items_processed") or 0
            total += metrics["items_total"]
    return (done, total) if total else None


def _wait_with_progress(client: JobportClient, job_id: str, timeout: float | None, unit: str = "items") -> dict:
    """Follow a job with two bars: inputs done, and the items (records, windows) inside them."""
    columns = (SpinnerColumn(), TextColumn("{task.fields[status]:<10}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[unit]}{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        inputs_bar = progress.add_task(job_id, total=None, status="PENDING", detail="", unit="inputs")
        items_bar = progress.add_task(job_id, total=None, status="", detail="", unit=unit, visible=False)

        def update(job: dict) -> None:
            counts = job.get("input_progress") or {}
            total = sum(counts.values())
            failed = counts.get("failed", 0)
            detail = f", {failed} failed" if failed else ""
            if job["status"] == "PENDING" and job.get("queue_position"):
                detail += f", queue {job['queue_position']}/{job['queue_depth']}"
            progress.update(inputs_bar, total=total or None, completed=counts.get("completed", 0) + failed,
                            status=job["status"], detail=detail)
            if job["status"] != "PENDING":
                items = _item_counts(client, job_id)
                if items:
                    progress.update(items_bar, completed=items[0], total=items[1], visible=True)

        return client.wait_job(job_id, timeout=timeout, on_update=update)


def submit(
    pipeline: Annotated[str, typer.Option(help="Pipeline key, e.g. machine-state-classification.")],
    files: Annotated[list[Path] | None, typer.Argument(
        help="Local files for the pipeline's main input port (e.g. worker.data of activity-detection).")] = None,
    input_: InputOpt = None, inference: InferenceOpt = None, shot: ShotOpt = None, config: ConfigOpt = None,
    name: Annotated[str | None, typer.Option(help="Job name (default: <pipeline>-<time>).")] = None,
    version: Annotated[str | None, typer.Option(help="Pipeline version (default: latest).")] = None,
    pipeline_type: PipelineTypeOpt = None,
    parallelism: Annotated[int | None, typer.Option(min=1, help="Most inputs processed at once.")] = None,
    priority: Annotated[int | None, typer.Option(help="Higher runs first.")] = None,
    dest: Annotated[Path | None, typer.Option(help="Where results go (default: ./results/<job id>).")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the job and download its results.")] = True,
    timeout: Annotated[float | None, typer.Option(help="Give up waiting after this many seconds.")] = None,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None,
) -> None:
    """Upload local files, create a job, follow its progress and download the results (REF = local path).

    Examples: jobport submit --pipeline activity-detection prompts.jsonl;
    jobport submit --pipeline machine-state-classification --inference line.csv
    --shot idle=idle.csv --shot run=run.csv --config @config.json
    """
    items = parse_inputs(input_, inference, shot, is_path=True)
    if not items and not files:
        raise typer.BadParameter("give at least one input", param_hint="--input/--inference/--shot")
    config_obj = _json_object_arg(config, "--config") if config else None
    name = name or f"{pipeline}-{datetime.now():%Y%m%d-%H%M%S}"
    started = time.monotonic()
    with connect(url, api_key) as client:
        found = client.get_pipeline(pipeline)  # an unknown key fails here, before any upload
        if files:
            items = [(_main_port(found), str(path), None) for path in files] + items
        local = _local_files(items)
        for file_id, path in local.items():
            uploaded = client.upload_file(path)
            err.print(f"uploaded {escape(file_id)} ({uploaded['num_bytes']:,} bytes)")
        body = build_body(pipeline=pipeline, name=name, version=version,
                          pipeline_type=pipeline_type or found["pipeline_type"],
                          inputs=[(port, Path(ref).name, label) for port, ref, label in items],
                          config=config_obj, parallelism=parallelism, priority=priority)
        job = client.create_job(body)
        job_id = job["id"]
        err.print(f"created job [bold]{job_id}[/bold] ({escape(name)})")
        if not wait:
            print(job_id)
            return
        try:
            job = _wait_with_progress(client, job_id, timeout, unit=_item_unit(pipeline))
        except KeyboardInterrupt:
            err.print(f"stopped waiting; {job_id} keeps running. Follow it with `jobport jobs get {job_id}`.")
            raise typer.Exit(130) from None
        except TimeoutError as e:
            err.print(f"[red]error:[/red] {e}; it keeps running. Follow it with `jobport jobs get {job_id}`.")
            raise typer.Exit(1) from None
        dest = dest or Path("results") / job_id
        paths = client.download_outputs(job_id, dest) if job["status"] == "COMPLETED" else []
        failed = client.job_inputs(job_id, status="failed") if job["input_progress"].get("failed") else []
    _summary(job, paths, dest, failed, time.monotonic() - started)
    if job["status"] != "COMPLETED":
        raise typer.Exit(1)


def _main_port(pipeline: dict) -> str:
    """The input port positional files go to: the first tracked port (the data, not references)."""
    for port in pipeline.get("inputs") or []:
        if port.get("tracked", True):
            return port["name"]
    raise typer.BadParameter(f"pipeline {pipeline['pipeline_key']} has no tracked input port; use --input",
                             param_hint="FILES")


def _item_unit(pipeline_key: str) -> str:
    return {"activity-detection": "records", "machine-state-classification": "windows"}.get(pipeline_key, "items")


def _summary(job: dict, paths: list[Path], dest: Path, failed: list[dict], seconds: float) -> None:
    counts = job["input_progress"]
    out.print(f"job [bold]{job['id']}[/bold] {_status(job['status'])} in {seconds:.1f} s: "
              f"{counts['completed']} input(s) completed, {counts['failed']} failed")
    if job.get("error"):
        err.print(f"[red]error:[/red] {_error_text(job['error'])}")
    if failed:
        table = Table("failed input", "error")
        for item in failed:
            table.add_row(escape(item["file_id"]), escape(item.get("error_message") or ""))
        err.print(table)
    if paths:
        _print_saved(paths, dest)


def register(app: typer.Typer) -> None:
    """Add the client commands to the `jobport` app."""
    app.add_typer(files_app, name="files")
    app.add_typer(jobs_app, name="jobs")
    app.command("submit")(submit)

"""Python SDK for jobport's native (Archetype-compatible) API at `/v0.5`.

    from jobport.sdk.client import JobportClient

    with JobportClient("http://127.0.0.1:8000", api_key) as jp:
        jp.upload_file("line.csv")
        job = jp.create_job({"name": "demo", "pipeline_type": "batch",
                             "pipeline_key": "machine-state-classification", "inputs": {...}})
        job = jp.wait_job(job["id"], timeout=600)
        paths = jp.download_outputs(job["id"], "results")

Every method returns the server's JSON as plain dicts/lists. Paged collections (`job_inputs`,
`job_outputs`, `job_events`, `list_pipelines`, `iter_files`) are fetched page by page for you.
A non-2xx answer raises `JobportError` with the server's `errors` list; network failures surface
as `httpx.TransportError`.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

API_PREFIX = "/v0.5"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
PAGE_SIZE = 100


class JobportError(Exception):
    """The server refused a request: `status_code` and its `errors` list ({code, message, suggestion})."""

    def __init__(self, status_code: int, errors: list[dict[str, Any]]) -> None:
        self.status_code = status_code
        self.errors = errors or [{"code": "http_error", "message": f"HTTP {status_code}", "suggestion": ""}]
        super().__init__(str(self))

    @property
    def code(self) -> str | None:
        return self.errors[0].get("code")

    @property
    def message(self) -> str:
        return self.errors[0].get("message") or ""

    def __str__(self) -> str:
        lines = []
        for e in self.errors:
            line = f"{e.get('message') or e.get('code')} [{e.get('code')}, HTTP {self.status_code}]"
            if e.get("suggestion"):
                line += f"\n  hint: {e['suggestion']}"
            lines.append(line)
        return "\n".join(lines)

    @classmethod
    def from_response(cls, response: httpx.Response) -> JobportError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            errors = body["errors"]
        elif isinstance(body, dict) and "detail" in body:  # a bare FastAPI/proxy error
            errors = [{"code": f"http_{response.status_code}", "message": str(body["detail"]), "suggestion": ""}]
        else:
            text = response.text.strip()[:300] or response.reason_phrase
            errors = [{"code": f"http_{response.status_code}", "message": text, "suggestion": ""}]
        return cls(response.status_code, errors)


class JobportClient:
    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        """`base_url` is the server root (a trailing `/v0.5` is accepted too). `transport` is handed to
        httpx, e.g. to talk to an in-process app in tests."""
        root = base_url.rstrip("/")
        if root.endswith(API_PREFIX):
            root = root[: -len(API_PREFIX)]
        self.base_url = root
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=root + API_PREFIX, headers=headers, timeout=timeout, transport=transport)
        # Signed output links need no credentials: never send the API key along with them.
        self._links = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)

    def close(self) -> None:
        self._http.close()
        self._links.close()

    def __enter__(self) -> JobportClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise JobportError.from_response(response)
        return response.json()

    def _pages(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[list[dict]]:
        """Offset pages of `key` items until `total` is reached."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        offset = 0
        while True:
            page = self._request("GET", path, params={**params, "offset": offset, "limit": PAGE_SIZE})
            items = page[key]
            if items:
                yield items
            offset += len(items)
            if not items or offset >= page["total"]:
                return

    def _all(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[dict]:
        return [item for page in self._pages(path, key, params) for item in page]

    def _stream_to(self, client: httpx.Client, url: str, dest: Path) -> Path:
        """Stream a GET into `dest` (via a temporary name, so a broken download leaves no partial file)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        with client.stream("GET", url) as response:
            if response.is_error:
                response.read()
                raise JobportError.from_response(response)
            with open(tmp, "wb") as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
        tmp.replace(dest)
        return dest

    # -- files ----------------------------------------------------------------------------------

    def upload_file(self, path: str | Path, name: str | None = None) -> dict:
        """Upload a local file; its file_id is `name` or the file's basename (same name replaces)."""
        path = Path(path)
        name = name or path.name
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.lower().endswith((".json", ".jsonl")):
            content_type = "text/plain"
        with open(path, "rb") as fh:
            return self._request("POST", "/files", files={"file": (name, fh, content_type)})

    def list_files(self, limit: int | None = None, after: str | None = None) -> dict:
        """One page, newest first: {data, has_more, next_cursor, prev_cursor}."""
        params = {k: v for k, v in {"limit": limit, "after": after}.items() if v is not None}
        return self._request("GET", "/files/metadata", params=params)

    def iter_files(self, page_size: int = 100) -> Iterator[dict]:
        after = None
        while True:
            page = self.list_files(limit=page_size, after=after)
            yield from page["data"]
            after = page.get("next_cursor")
            if not page.get("has_more") or not after:
                return

    def get_file(self, file_id: str) -> dict:
        return self._request("GET", f"/files/metadata/{file_id}")

    def delete_file(self, file_id: str) -> dict:
        return self._request("DELETE", f"/files/delete/{file_id}")

    def download_file(self, file_id: str, dest: str | Path) -> Path:
        """Save a file's bytes to `dest` (or to `dest/<file_id>` if `dest` is a directory)."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / file_id
        return self._stream_to(self._http, f"/files/download/{file_id}", dest)

    # -- pipelines ------------------------------------------------------------------------------

    def list_pipelines(self, pipeline_type: str | None = None) -> list[dict]:
        return self._all("/batch/registry/pipelines", "pipelines", {"pipeline_type": pipeline_type})

    def get_pipeline(self, id_or_key: str) -> dict:
        """By `ppl_` id, or by key for the latest version."""
        return self._request("GET", f"/batch/registry/pipelines/{id_or_key}")

    # -- jobs -----------------------------------------------------------------------------------

    def create_job(self, body: dict, idempotency_key: str | None = None) -> dict:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._request("POST", "/batch/jobs", json=body, headers=headers)

    def get_job(self, job_id: str) -> dict:
        return self._request("GET", f"/batch/jobs/{job_id}")

    def list_jobs(self, status: str | None = None, q: str | None = None, offset: int = 0, limit: int = 20,
                  pipeline_type: str | None = None) -> dict:
        """One page, newest first: {total, offset, limit, jobs}."""
        params = {"status": status, "q": q, "offset": offset, "limit": limit, "pipeline_type": pipeline_type}
        return self._request("GET", "/batch/jobs", params={k: v for k, v in params.items() if v is not None})

    def cancel_job(self, job_id: str) -> dict:
        return self._request("POST", f"/batch/jobs/{job_id}/cancel")

    def retry_job(self, job_id: str) -> dict:
        return self._request("POST", f"/batch/jobs/{job_id}/retry")

    def delete_job(self, job_id: str) -> dict:
        return self._request("DELETE", f"/batch/jobs/{job_id}")

    def job_inputs(self, job_id: str, port_name: str | None = None, status: str | None = None) -> list[dict]:
        return self._all(f"/batch/jobs/{job_id}/inputs", "inputs", {"port_name": port_name, "status": status})

    def input_progress(self, job_id: str) -> list[dict]:
        """Tracked inputs of a job, each with its latest progress entry (items done of total)."""
        return self._request("GET", f"/batch/jobs/{job_id}/inputs/progress", params={"limit": 1000})["items"]

    # -- apps and usage (jobport extensions) --

    def create_app(self, body: dict) -> dict:
        return self._request("POST", "/apps", json=body)

    def list_apps(self) -> list[dict]:
        return self._all("/apps", "apps")

    def get_app(self, app: str) -> dict:
        return self._request("GET", f"/apps/{app}")

    def add_app_version(self, app: str, body: dict) -> dict:
        return self._request("POST", f"/apps/{app}/versions", json=body)

    def set_app_version_active(self, app: str, version: str, active: bool) -> dict:
        return self._request("POST", f"/apps/{app}/versions/{version}/{'activate' if active else 'deactivate'}")

    def usage(self, since: str | None = None, until: str | None = None, limit: int = 20) -> dict:
        params = {k: v for k, v in {"since": since, "until": until, "limit": limit}.items() if v is not None}
        return self._request("GET", "/usage", params=params)

    def job_outputs(self, job_id: str, port_name: str | None = None, input_id: str | None = None) -> list[dict]:
        return self._all(f"/batch/jobs/{job_id}/outputs", "outputs", {"port_name": port_name, "input_id": input_id})

    def job_events(self, job_id: str, level: str | None = None, event_type: str | None = None) -> list[dict]:
        return self._all(f"/batch/jobs/{job_id}/events", "events", {"level": level, "event_type": event_type})

    def wait_job(self, job_id: str, timeout: float | None = None, on_update: Callable[[dict], None] | None = None,
                 interval: float = 0.2, max_interval: float = 2.0) -> dict:
        """Poll until the job is COMPLETED, FAILED or CANCELLED and return it. The poll interval grows
        from `interval` to `max_interval` while nothing changes and drops back when something does.
        `on_update(job)` is called after every poll. Raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay, last = interval, None
        while True:
            job = self.get_job(job_id)
            if on_update is not None:
                on_update(job)
            if job["status"] in TERMINAL:
                return job
            state = (job["status"], tuple(sorted((job.get("input_progress") or {}).items())))
            delay = interval if state != last else min(delay * 1.5, max_interval)
            last = state
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")
            time.sleep(delay)

    def download_outputs(self, job_id: str, dest_dir: str | Path) -> list[Path]:
        """Save every output of the job to `dest_dir/<filename>` through its signed link (no auth header).
        Pages are fetched just before their files, so links are fresh."""
        dest_dir = Path(dest_dir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        for page in self._pages(f"/batch/jobs/{job_id}/outputs", "outputs"):
            for output in page:
                name = Path(output["data"]["filename"]).name
                dest = dest_dir / name
                if dest in saved:  # two inputs with the same stem: keep both
                    dest = dest_dir / f"{Path(name).stem}_{output['id']}{Path(name).suffix}"
                saved.append(self._stream_to(self._links, output["data"]["ref"], dest))
        return saved

"""The callback deliverer: a loop service (one named thread + a bounded pool of sender threads)
that sends due outbox rows, signed, and records every attempt.

Each pass claims at most as many due deliveries as there are free senders (and at most
`callback_batch_size`), leasing each by pushing its `next_attempt_at` `lease` seconds ahead
(`callback_timeout_seconds` + 30 s) in a short transaction; the HTTP request is sent outside any
transaction; the result is written in another one. Several server processes may run deliverers
on one database: a row is claimed by one of them at a time (see `outbox.claim_due`). A process that
dies mid-send leaves a lease that simply expires: the row is sent again (at least once). On a clean
stop, in-flight requests finish (bounded by the timeout) and their results are recorded.

Outcomes: any 2xx is delivered. A URL the SSRF guard refuses fails the delivery at once. Anything
else (timeout, connection error, 3xx (redirects are not followed), 4xx, 5xx) is retried on the
schedule of `jobport.callbacks.backoff` until `callback_max_attempts`, then the delivery is failed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy.orm import Session, sessionmaker

from jobport.callbacks import backoff, outbox, payloads, signing
from jobport.config import Settings
from jobport.outbound import FetchError, UrlGuard, guarded_client, post_json_guarded
from jobport.store.db import transaction, utcnow

log = structlog.get_logger("jobport.callbacks")

LEASE_MARGIN_SECONDS = 30.0
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error; `final` = do not retry (refused URL)."""

    status_code: int | None
    error: str | None
    retry_after: float | None = None
    final: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Sender = Callable[[str, bytes, dict[str, str], float], Outcome]


class CallbackDeliverer:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        guard: UrlGuard | None = None,
        clock: Callable[[], datetime] = utcnow,
        rand: Callable[[], float] = random.random,
        sender: Sender | None = None,
        name: str = "jobport-callbacks",
        on_attempt: Callable[[str], None] = lambda _result: None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.guard = guard or UrlGuard(
            allow_private=settings.callbacks.allow_private_networks, setting="JOBPORT_CALLBACK_ALLOW_PRIVATE_NETWORKS")
        self.clock = clock
        self.rand = rand
        self.name = name
        self.on_attempt = on_attempt  # each recorded attempt's result: delivered, failed (retried) or given_up
        self.lease = timedelta(seconds=settings.callbacks.timeout_seconds + LEASE_MARGIN_SECONDS)
        self._sender = sender
        self._client: httpx.Client | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: set[Future] = set()
        self._lock = threading.Lock()

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._sender is None:
            self._client = guarded_client(self.guard, timeout=self.settings.callbacks.timeout_seconds)
        self._pool = ThreadPoolExecutor(self.settings.callbacks.concurrency, thread_name_prefix=f"{self.name}-send")
        outbox.add_waker(self)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        log.info("callback deliverer started", concurrency=self.settings.callbacks.concurrency)

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, let in-flight attempts finish and record them."""
        outbox.remove_waker(self)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout or self.settings.callbacks.timeout_seconds * 2 + 30)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._client is not None:
            self._client.close()

    def wake(self) -> None:
        """Look for due deliveries now (called after a commit that enqueued one)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- loop -----------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                wait = self.run_once()
            except Exception:  # a bad pass (DB hiccup...) must not end the loop; retried shortly
                log.exception("callback pass failed")
                wait = self.settings.callbacks.poll_seconds
            if wait > 0:
                self._wake.wait(wait)

    def run_once(self) -> float:
        """One pass: claim what is due and hand it to the senders. Returns how long to sleep."""
        with self._lock:
            self._inflight = {f for f in self._inflight if not f.done()}
            free = self.settings.callbacks.concurrency - len(self._inflight)
        if free <= 0:
            return self.settings.callbacks.poll_seconds  # a finishing sender wakes the loop
        now = self.clock()
        poll = self.settings.callbacks.poll_seconds
        with self.sessions() as session:  # a read first: no write lock while nothing is due
            due = outbox.next_due(session)
        if due is None or due > now:
            return poll if due is None else min(poll, (due - now).total_seconds())
        with transaction(self.sessions) as session:
            claims = outbox.claim_due(session, now=now, lease_until=now + self.lease,
                                      limit=min(free, self.settings.callbacks.batch_size))
            secrets = outbox.signing_secrets(session, [c.org_id for c in claims], now) if claims else {}
        for claim in claims:
            self._submit(claim, secrets[claim.org_id])
        # a full batch: more may be due at once; otherwise the next due time is found next pass
        return 0.0 if claims and len(claims) == min(free, self.settings.callbacks.batch_size) else min(poll, 0.05)

    def _submit(self, claim: outbox.Claim, secrets: list[str]) -> None:
        if self._pool is None:  # not started (tests drive `run_once` by hand): send inline
            self.deliver(claim, secrets)
            return
        future = self._pool.submit(self.deliver, claim, secrets)
        future.add_done_callback(lambda _f: self._wake.set())
        with self._lock:
            self._inflight.add(future)

    # ---- one attempt ----------------------------------------------------------------------------

    def deliver(self, claim: outbox.Claim, secrets: list[str]) -> Outcome:
        """Send one attempt of a claimed delivery and record it."""
        started = self.clock()
        t0 = time.monotonic()
        body = payloads.dumps(claim.payload)
        headers = signing.headers(secrets, claim.message_id, started, body)
        try:
            outcome = self.send(claim.url, body.encode(), headers, self.settings.callbacks.timeout_seconds)
        except Exception as exc:  # never lose the attempt: an unexpected error is a failed attempt
            log.exception("callback attempt crashed", delivery=claim.id)
            outcome = Outcome(None, f"internal error: {type(exc).__name__}: {exc}")
        duration_ms = max(0, round((time.monotonic() - t0) * 1000))
        self.record(claim, outcome, started, duration_ms)
        return outcome

    def send(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
        if self._sender is not None:
            return self._sender(url, body, headers, timeout)
        try:
            response = post_json_guarded(url, body=body, headers=headers, guard=self.guard, timeout=timeout,
                                         client=self._client)
        except FetchError as exc:
            return Outcome(None, exc.message, final=exc.kind == "refused")
        if 200 <= response.status_code < 300:
            return Outcome(response.status_code, None)
        return Outcome(response.status_code, _http_error(response),
                       retry_after=backoff.parse_retry_after(response.headers.get("retry-after"), self.clock()))

    def record(self, claim: outbox.Claim, outcome: Outcome, started: datetime, duration_ms: int) -> None:
        s = self.settings
        error = outcome.error[:MAX_ERROR_CHARS] if outcome.error else None
        next_at = None
        if outcome.ok:
            status = outbox.DELIVERED
        elif outcome.final:
            status = outbox.FAILED
        else:
            delay = backoff.delay_after(claim.attempt, s.callbacks.max_attempts, s.callbacks.initial_backoff_seconds,
                                        s.callbacks.max_backoff_seconds, self.rand, outcome.retry_after)
            if delay is None:
                status = outbox.FAILED
                error = f"{error} (gave up after {claim.attempt} attempts)"
            else:
                status, next_at = outbox.PENDING, self.clock() + timedelta(seconds=delay)
        try:
            with transaction(self.sessions) as session:
                won = outbox.record(session, claim, status=status, started_at=started, duration_ms=duration_ms,
                                    status_code=outcome.status_code, error=error, next_attempt_at=next_at)
        except Exception:  # the lease expires and the delivery is attempted again (at least once)
            log.exception("recording a callback attempt failed", delivery=claim.id)
            return
        if won:
            self.on_attempt({outbox.DELIVERED: "delivered", outbox.FAILED: "given_up"}.get(status, "failed"))
        if not won:
            log.warning("callback attempt raced another deliverer", delivery=claim.id, attempt=claim.attempt)
        elif status == outbox.FAILED:
            log.warning("callback failed", delivery=claim.id, attempts=claim.attempt, error=error)


def _http_error(response: httpx.Response) -> str:
    if 300 <= response.status_code < 400:
        where = response.headers.get("location")
        return f"HTTP {response.status_code}: redirects are not followed" + (f" (to {where})" if where else "")
    text = response.text.strip().replace("\n", " ")[:200]
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")

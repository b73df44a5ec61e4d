"""Safe retries of creates: a request sent with an `Idempotency-Key` runs once; a retry with the
same key and the same request gets the first answer back (status and body), the same key with
another request is a 409, and a retry while the first is still running is a 409 too. Answers are
kept `retention_idempotency_hours` (the retention service prunes them). Failed requests (any
error) keep nothing, so a corrected retry may reuse the key.

Scopes keep the creates of different routes apart: `superai.jobs`, `gravity.jobs`, `files`. The
Archetype job create keeps its own record on the job row (`services.jobs.create`)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from jobport.domain.errors import Conflict, Invalid
from jobport.domain.times import as_utc
from jobport.services.context import AppContext
from jobport.store import idempotency as store
from jobport.store.db import transaction, utcnow

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    """What a create answered: its status code and JSON body; `replayed` for a retry's copy."""

    status_code: int
    body: Any
    replayed: bool = False


def fingerprint(*parts: Any) -> str:
    """A stable digest of a request's parts (JSON values; bytes as they are)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
        digest.update(b"\x00")
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(f"Idempotency-Key: give 1 to {MAX_KEY_LENGTH} printable characters", field="Idempotency-Key",
                      code="invalid_idempotency_key", suggestion="Use a UUID per logical request.")
    return key


@dataclass(frozen=True)
class Claim:
    """The right to run a create under a key (`finish` stores its answer, `abandon` frees the key)."""

    org_id: str
    scope: str
    key: str


def begin(ctx: AppContext, org_id: str, scope: str, key: str, request_hash: str) -> Answer | Claim:
    """The stored answer to replay (`replayed`), or a claim to run the create under `key`; 409 when
    the key was used with another request or its first request is still running."""
    key = check_key(key)
    window = timedelta(hours=ctx.settings.retention.idempotency_hours)
    with transaction(ctx.sessions) as session:
        existing = store.find(session, org_id, scope, key)
        if existing is not None and as_utc(existing.created_at) < utcnow() - window:
            store.release(session, org_id, scope, key)  # forgotten: the key may be used afresh
            session.flush()
            existing = None
        if existing is None and store.claim(session, org_id, scope, key, request_hash, utcnow()):
            return Claim(org_id, scope, key)
        return _replay(existing or store.find(session, org_id, scope, key), request_hash)


def finish(ctx: AppContext, claim: Claim, answer: Answer) -> Answer:
    with transaction(ctx.sessions) as session:
        store.complete(session, claim.org_id, claim.scope, claim.key, answer.status_code, answer.body)
    return answer


def abandon(ctx: AppContext, claim: Claim) -> None:
    with transaction(ctx.sessions) as session:
        store.release(session, claim.org_id, claim.scope, claim.key)


def run_once(ctx: AppContext, org_id: str, scope: str, key: str | None, request_hash: str,
             create: Callable[[], Answer]) -> Answer:
    """`create()` unless this key already answered (then that answer, `replayed`)."""
    if key is None:
        return create()
    claimed = begin(ctx, org_id, scope, key, request_hash)
    if isinstance(claimed, Answer):
        return claimed
    try:
        answer = create()
    except BaseException:
        abandon(ctx, claimed)
        raise
    return finish(ctx, claimed, answer)


async def run_once_async(ctx: AppContext, org_id: str, scope: str, key: str | None, request_hash: str,
                         create: Callable[[], Awaitable[Answer]]) -> Answer:
    """`run_once` for a create that is a coroutine (its bookkeeping runs off the event loop)."""
    if key is None:
        return await create()
    claimed = await run_in_threadpool(begin, ctx, org_id, scope, key, request_hash)
    if isinstance(claimed, Answer):
        return claimed
    try:
        answer = await create()
    except BaseException:
        await run_in_threadpool(abandon, ctx, claimed)
        raise
    return await run_in_threadpool(finish, ctx, claimed, answer)


def _replay(existing: store.IdempotencyRecord | None, request_hash: str) -> Answer:
    if existing is None or existing.status_code is None:
        raise Conflict("a request with this Idempotency-Key is still running", field="Idempotency-Key",
                       code="idempotency_key_in_use", suggestion="Retry once it has answered.")
    if existing.request_hash != request_hash:
        raise Conflict("Idempotency-Key was already used with a different request", field="Idempotency-Key",
                       code="idempotency_key_reused",
                       suggestion="Send the same request to get the first answer back, or use a new Idempotency-Key.")
    return Answer(existing.status_code, existing.response, replayed=True)

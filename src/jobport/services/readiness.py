"""Readiness: what this process needs before it can do its job, checked on every `/readyz`.

Every role needs the database at the newest schema revision and a reachable blob store. A process
that runs a scheduler is ready when it is the active scheduler or stands by for one; it is not
ready while its executor is unreachable (jobs then stay queued). An API replica is not held back
by the scheduler: it reports the active scheduler's last heartbeat (or its absence) as information,
because jobs it accepts wait in the queue until a scheduler runs. A process that is shutting down
(SIGTERM, `ctx.draining`) is not ready: load balancers stop sending it requests while it drains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text

from jobport.services.context import AppContext
from jobport.store import schedulers as heartbeats
from jobport.store.db import schema_revision, utcnow

HEARTBEAT_STALE = timedelta(seconds=15)
PROBE_KEY = "readyz/probe"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


@dataclass(frozen=True)
class Readiness:
    role: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    @property
    def waiting_for(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.required and not c.ok]


def _database(ctx: AppContext) -> list[Check]:
    try:
        with ctx.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = schema_revision(ctx.db)
    except Exception as err:
        return [Check("database", False, f"unreachable: {type(err).__name__}: {err}"[:500])]
    migrated = current == head
    return [Check("database", True, ctx.db.dialect.name),
            Check("migrations", migrated, f"at {current}" if migrated else f"at {current}, code needs {head}")]


def _blobs(ctx: AppContext) -> Check:
    try:
        ctx.blobs.exists(PROBE_KEY)
    except Exception as err:
        return Check("blob_store", False, str(err)[:500] or type(err).__name__)
    return Check("blob_store", True, "reachable")


def _scheduler(ctx: AppContext) -> Check:
    state = ctx.scheduler_state
    if state in ("running", "standby", "waiting"):  # this process runs a scheduler
        if state == "waiting":
            problem = getattr(ctx.scheduler, "problem", None) or "its executor is unavailable"
            return Check("scheduler", False, f"waiting: {problem}")
        return Check("scheduler", True, "active" if state == "running" else "standby (another scheduler is active)")
    try:
        with ctx.sessions() as session:
            beats = heartbeats.recent(session, HEARTBEAT_STALE)
    except Exception as err:
        return Check("scheduler", False, f"heartbeats unreadable: {err}"[:500], required=False)
    now = utcnow()
    active = [b for b in beats if b.state == "active"]
    if active:
        beat = active[0]
        return Check("scheduler", True, f"active: {beat.instance_id} on {beat.hostname} "
                                        f"(reported {beat.age_seconds(now):.1f} s ago)", required=False)
    problems = [b.problem for b in beats if b.problem]
    detail = f"no active scheduler reported in the last {HEARTBEAT_STALE.seconds} s: jobs queue until one runs"
    return Check("scheduler", False, detail + (f" ({problems[0]})" if problems else ""), required=False)


def _draining(ctx: AppContext) -> Check:
    if ctx.draining.is_set():
        return Check("draining", False, "shutting down (SIGTERM): send new requests to another replica")
    return Check("draining", True, "not shutting down")


def check(ctx: AppContext) -> Readiness:
    checks = [_draining(ctx), *_database(ctx)]
    checks.append(_blobs(ctx))
    checks.append(_scheduler(ctx))
    return Readiness(ctx.settings.role, checks)

"""The application context: settings and the backends every service needs, built once at start."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jobport.blobs.base import BlobStore
from jobport.blobs.local import LocalBlobStore
from jobport.blobs.signing import UrlSigner
from jobport.config import Settings
from jobport.pipelines.registry import Registry
from jobport.store.db import make_engine, make_session_factory

if TYPE_CHECKING:
    from jobport.engine.scheduler import Scheduler


def write_secret_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content + "\n")
    os.chmod(path, 0o600)


def load_or_create_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.home / "secret.key"
    if path.exists():
        return path.read_text().strip().encode()
    value = secrets.token_hex(32)
    write_secret_file(path, value)
    return value.encode()


@dataclass
class AppContext:
    settings: Settings
    db: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    signer: UrlSigner
    registry: Registry
    scheduler: "Scheduler | None" = field(default=None)

    @classmethod
    def build(cls, settings: Settings, registry: Registry | None = None) -> "AppContext":
        settings.home.mkdir(parents=True, exist_ok=True)
        db = make_engine(settings.resolved_database_url)
        return cls(
            settings=settings,
            db=db,
            sessions=make_session_factory(db),
            blobs=LocalBlobStore(settings.blob_root),
            signer=UrlSigner(load_or_create_secret(settings), settings.signed_url_ttl_seconds),
            registry=registry or Registry.from_entry_points(),
        )

    def wake_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

"""A real `jobport serve` process on a free loopback port, with its own JOBPORT_HOME."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobport.testing.embedded import JOBPORT, EmbeddedServer  # noqa: F401  (JOBPORT: the CLI the tests run)


@pytest.fixture
def live_server(tmp_path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(home=tmp_path / "home", workers=2, key="e2e-admin-key")
    server.start()
    try:
        yield server
    finally:
        server.stop()

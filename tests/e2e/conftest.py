"""A real `jobport serve` process on a free loopback port, with its own JOBPORT_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


def pytest_collection_modifyitems(config, items) -> None:
    """Every test of this tier starts real server processes: mark it `e2e` (`-m "not e2e"` skips the tier)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)

"""Settings: every one is documented in docs/operations.md with its environment name, and unsafe or
inconsistent combinations stop the server at start (fail closed)."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from jobport.config import Settings

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()


def test_every_setting_is_documented_with_its_environment_name():
    missing = [name for name in Settings.model_fields if f"JOBPORT_{name.upper()}" not in DOCS]
    assert missing == []


@pytest.mark.parametrize(("values", "names"), [
    ({"blob_store": "memory"}, "executor=inline"),
    ({"secret_key": "short"}, "secret_key"),
    ({"public_url": "ftp://example.com"}, "public_url"),
    ({"page_default": 50, "page_max": 10}, "page_default"),
    ({"superai_page_default": 20, "superai_page_max": 5}, "superai_page_default"),
    ({"callback_initial_backoff_seconds": 100, "callback_max_backoff_seconds": 10}, "callback_initial_backoff"),
])
def test_unsafe_settings_refuse_to_start(tmp_path, values, names):
    with pytest.raises(ValidationError, match=names):
        Settings(home=tmp_path, **values)


def test_memory_blobs_with_the_inline_executor_are_fine(tmp_path):
    settings = Settings(home=tmp_path, blob_store="memory", executor="inline")
    assert settings.blobs.kind == "memory"

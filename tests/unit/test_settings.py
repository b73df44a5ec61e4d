"""Settings: every one is documented in docs/operations.md with its environment name, and unsafe or
inconsistent combinations stop the server at start (fail closed)."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from helpers import make_settings
from jobport.config import GROUPS, Settings

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()


def _environment_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if name in GROUPS:
            prefix = model.model_config["env_prefix"]
            names += [f"{prefix}{sub}".upper() for sub in model.model_fields]
        else:
            names.append(f"JOBPORT_{name}".upper())
    return names


def test_every_setting_is_documented_with_its_environment_name():
    names = _environment_names()
    assert len(names) > 40
    assert [name for name in names if f"`{name}`" not in DOCS] == []


def test_grouped_settings_keep_their_environment_names(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBPORT_WORKERS", "3")
    monkeypatch.setenv("JOBPORT_CALLBACK_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("JOBPORT_SUPERAI_PAGE_MAX", "50")
    monkeypatch.setenv("JOBPORT_LOG_FORMAT", "json")
    settings = Settings(home=tmp_path)
    assert (settings.engine.workers, settings.callbacks.max_attempts, settings.superai.page_max,
            settings.log.format) == (3, 7, 50, "json")
    assert Settings.locate("callback_max_attempts") == ("callbacks", "max_attempts")
    assert Settings.default_of("superai_page_max") == 1000


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
        make_settings(home=tmp_path, **values)


def test_memory_blobs_with_the_inline_executor_are_fine(tmp_path):
    settings = make_settings(home=tmp_path, blob_store="memory", executor="inline")
    assert settings.blobs.kind == "memory"

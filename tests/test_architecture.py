"""The layer rules of DESIGN.md hold: the import-linter contracts in pyproject.toml (layers, no
store or SQLAlchemy in api/, surfaces independent, engine -> pipelines through the SDK only, the
server never imports the client SDK or the test kit)."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == 0, capsys.readouterr().out

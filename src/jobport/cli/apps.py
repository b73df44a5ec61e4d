"""Client commands for apps (`jobport apps ...`) and the usage ledger (`jobport usage`).

An app is a pipeline + config + reference files (the model) + pricing that clients run by name;
a key bound to it (`jobport keys create --org ORG --app APP`) is what the Gravity surface needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from jobport.cli.client import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    _json_object_arg,
    _when,
    connect,
    err,
    out,
    print_json,
)

apps_app = typer.Typer(help="Apps: a saved pipeline + config + model files + pricing, in versions.",
                       no_args_is_help=True)

ConfigOpt = Annotated[str | None, typer.Option("--config", help="Pipeline config: JSON text or @file.json.")]
RefOpt = Annotated[list[str] | None, typer.Option(
    "--reference", "-r", metavar="PORT=FILE",
    help="A reference input, e.g. worker.model=model.onnx: a local file (uploaded) or an uploaded file id.")]
PricingOpt = Annotated[str | None, typer.Option(
    "--pricing", metavar="RECORDS:UNITS", help="UNITS ($0.001 each) per group of RECORDS records, e.g. 1000:5.")]


def _version_body(version: str, pipeline_version: str | None, config: str | None, references: list[str] | None,
                  pricing: str | None, client) -> dict:
    body: dict = {"version": version}
    if pipeline_version:
        body["pipeline_version"] = pipeline_version
    if config:
        body["config"] = _json_object_arg(config, "--config")
    refs: dict[str, list[dict]] = {}
    for spec in references or []:
        port, sep, ref = spec.partition("=")
        if not sep or not port or not ref:
            raise typer.BadParameter(f"{spec!r}: expected PORT=FILE", param_hint="--reference")
        if Path(ref).is_file():
            ref = client.upload_file(ref)["file_id"]
            err.print(f"uploaded {escape(ref)}")
        refs.setdefault(port, []).append({"file_id": ref})
    if refs:
        body["references"] = refs
    if pricing:
        records, sep, units = pricing.partition(":")
        if not sep or not records.isdigit() or not units.isdigit() or int(records) < 1:
            raise typer.BadParameter(f"{pricing!r}: expected RECORDS:UNITS, e.g. 1000:5", param_hint="--pricing")
        body["pricing"] = {"records_per_group": int(records), "units_per_group": int(units)}
    return body


def _print_app(app: dict) -> None:
    out.print(f"[bold]{escape(app['name'])}[/bold] {app['id']}  pipeline {app['pipeline_key']}  "
              f"latest {app['latest_version'] or '-'}")
    table = Table("version", "pipeline", "active", "pricing", "references", "created")
    for v in app["versions"]:
        refs = ", ".join(f"{r['port_name']}={r['file_id']}" for r in v["references"])
        pricing = f"{v['pricing']['units_per_group']} per {v['pricing']['records_per_group']:,} records"
        table.add_row(v["version"], v["pipeline_version"], "yes" if v["active"] else "no", pricing, escape(refs),
                      _when(v["created_at"]))
    out.print(table)


@apps_app.command("create")
def apps_create(
    name: Annotated[str, typer.Option(help="App name (unique in the org).")],
    pipeline: Annotated[str, typer.Option(help="Pipeline key, e.g. tabular-model.")],
    version: Annotated[str, typer.Option(help="First version label.")] = "1.0.0",
    pipeline_version: Annotated[str | None, typer.Option(help="Default: the latest published.")] = None,
    config: ConfigOpt = None, reference: RefOpt = None, pricing: PricingOpt = None,
    description: Annotated[str, typer.Option(help="What the app does.")] = "",
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create an app; local reference files are uploaded first. The server loads the model and
    checks it against the config's features and outputs (400 naming the field otherwise).

    Example, with the files `jobport apps example-model` writes:

    jobport apps create --name iris --pipeline tabular-model --config @iris-config.json
    --reference worker.model=iris_logreg.onnx --pricing 1000:20
    """
    with connect(url, api_key) as client:
        body = _version_body(version, pipeline_version, config, reference, pricing, client)
        app = client.create_app({"name": name, "pipeline_key": pipeline, "description": description, **body})
    print_json(app) if as_json else _print_app(app)


@apps_app.command("example-model")
def apps_example_model(
    directory: Annotated[Path, typer.Argument(help="Where to write the model and its config.")] = Path("."),
) -> None:
    """Write an example model to start from: an Iris classifier (scikit-learn logistic regression,
    exported to ONNX) and the tabular-model config that hosts it (features, outputs)."""
    from jobport.services.examples import write_example_model

    model, config = write_example_model(directory)
    out.print(f"wrote {model} and {config}; host it with:\n"
              f"  jobport apps create --name iris --pipeline tabular-model --config @{config} "
              f"--reference worker.model={model}")


@apps_app.command("list")
def apps_list(url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """List the org's apps."""
    with connect(url, api_key) as client:
        apps = client.list_apps()
    if as_json:
        print_json(apps)
        return
    table = Table("name", "id", "pipeline", "latest", "versions", "created")
    for a in apps:
        table.add_row(escape(a["name"]), a["id"], a["pipeline_key"], a["latest_version"] or "-",
                      str(len(a["versions"])), _when(a["created_at"]))
    out.print(table)


@apps_app.command("get")
def apps_get(app: Annotated[str, typer.Argument(help="App name or id.")],
             url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Show an app and its versions."""
    with connect(url, api_key) as client:
        found = client.get_app(app)
    print_json(found) if as_json else _print_app(found)


@apps_app.command("add-version")
def apps_add_version(
    app: Annotated[str, typer.Argument(help="App name or id.")],
    version: Annotated[str, typer.Option(help="New version label.")],
    pipeline_version: Annotated[str | None, typer.Option(help="Default: the latest published.")] = None,
    config: ConfigOpt = None, reference: RefOpt = None, pricing: PricingOpt = None,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Add a version (it becomes the latest active one)."""
    with connect(url, api_key) as client:
        row = client.add_app_version(app, _version_body(version, pipeline_version, config, reference, pricing, client))
    print_json(row) if as_json else out.print(f"added version {row['version']} of {escape(app)}")


@apps_app.command("deactivate")
def apps_deactivate(app: Annotated[str, typer.Argument(help="App name or id.")],
                    version: Annotated[str, typer.Argument(help="Version label.")],
                    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None) -> None:
    """Deactivate a version: requests naming it get a 400; `version: null` skips it."""
    with connect(url, api_key) as client:
        client.set_app_version_active(app, version, False)
    out.print(f"deactivated version {version} of {escape(app)}")


def usage(
    since: Annotated[str | None, typer.Option(help="ISO date/time; entries at or after.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time; entries before.")] = None,
    limit: Annotated[int, typer.Option(help="Latest entries to list.")] = 20,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """The org's usage: billed units ($0.001 each) per app and surface, and the latest entries."""
    with connect(url, api_key) as client:
        report = client.usage(since, until, limit)
    if as_json:
        print_json(report)
        return
    t = report["totals"]
    out.print(f"{t['jobs']:,} jobs, {t['records']:,} records, {t['record_groups']:,} record groups, "
              f"{t['billed_units']:,} units = ${t['billed_usd']:,.3f}")
    table = Table("app", "surface", "jobs", "records", "groups", "units")
    for r in report["by_app"]:
        table.add_row(escape(r["app_name"] or r["app_id"] or "-"), r["surface"], f"{r['jobs']:,}", f"{r['records']:,}",
                      f"{r['record_groups']:,}", f"{r['billed_units']:,}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(apps_app, name="apps")
    app.command("usage")(usage)

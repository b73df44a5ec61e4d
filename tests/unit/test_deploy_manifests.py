"""The deployment files (deploy/, docs/deploy.md) stay in step with the code: every manifest parses,
the Deployments run the roles they claim with probes on their container port, and every `JOBPORT_*`
name they or the deploy guide mention is a setting that exists (a renamed or removed setting fails
here), the ConfigMap and the filled-in Secret are settings each role accepts, the kustomization
lists every manifest, and Ray runs the version jobport pins, in the schedulers' image."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from jobport.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
GUIDE = ROOT / "docs" / "deploy.md"
MANIFESTS = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
SETTING = re.compile(r"\bJOBPORT_[A-Z0-9_]*[A-Z0-9]\b")


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _all_documents() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in MANIFESTS for doc in _documents(path)]


def _of_kind(kind: str) -> list[dict]:
    return [doc for _, doc in _all_documents() if doc["kind"] == kind]


def _ray_pin() -> str:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = [req.split("==", 1)[1] for req in extras["ray"] if re.match(r"ray(\[[^]]*\])?==", req)]
    assert len(pins) == 1, extras["ray"]
    return pins[0]


def test_every_manifest_parses_and_names_its_kind():
    assert MANIFESTS, "no manifests under deploy/"
    for path, doc in _all_documents():
        where = f"{path.relative_to(ROOT)}: {doc.get('kind')}"
        assert isinstance(doc, dict), where
        assert doc.get("apiVersion") and doc.get("kind"), where
        assert (doc.get("metadata") or {}).get("name"), where


def _containers(deployment: dict) -> list[dict]:
    return deployment["spec"]["template"]["spec"]["containers"]


def _command_line(container: dict) -> str:
    return " ".join(container.get("command", []) + container.get("args", []))


@pytest.mark.parametrize("role", ["api", "scheduler"])
def test_each_role_runs_in_a_deployment_probed_on_its_container_port(role):
    deployments = [d for d in _of_kind("Deployment") if f"--role {role}" in _command_line(_containers(d)[0])]
    assert len(deployments) == 1, f"one Deployment runs `jobport serve --role {role}`"
    deployment = deployments[0]
    assert deployment["spec"]["replicas"] >= 2  # API: replicas; scheduler: an active one and a standby
    container = _containers(deployment)[0]
    numbers = {p["containerPort"] for p in container["ports"]}
    names = {p["name"] for p in container["ports"] if "name" in p}
    assert any(f"--port {n}" in _command_line(container) for n in numbers), "serves on its container port"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path, (role, probe)
        assert http["port"] in numbers | names, (role, probe, http["port"])
    refs = {(ref.get("configMapRef") or ref.get("secretRef"))["name"] for ref in container["envFrom"]}
    defined = {d["metadata"]["name"] for d in _of_kind("ConfigMap") + _of_kind("Secret")}
    assert refs and refs <= defined, (refs, defined)


def _environment_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in [*DEPLOY.rglob("*"), GUIDE]:
        if path.is_file():
            for name in SETTING.findall(path.read_text()):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_setting_named_in_the_manifests_and_the_guide_exists():
    assert GUIDE.is_file()
    found = _environment_names()
    assert "JOBPORT_DATABASE_URL" in found and "JOBPORT_SECRET_KEY" in found
    unknown = {}
    for name, files in sorted(found.items()):
        try:
            Settings.locate(name.removeprefix("JOBPORT_").lower())
        except KeyError:
            unknown[name] = sorted(set(files))
    assert unknown == {}, f"not settings of jobport.config.Settings: {unknown}"


def test_configmap_and_secret_keys_are_settings():
    for doc in _of_kind("ConfigMap") + _of_kind("Secret"):
        keys = {**doc.get("data", {}), **doc.get("stringData", {})}
        jobport_keys = [k for k in keys if k.startswith("JOBPORT_")]
        if doc["metadata"]["name"].startswith("jobport-ray"):
            continue  # the Ray token, not a jobport setting
        assert jobport_keys == list(keys), (doc["metadata"]["name"], keys)


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = sorted(kustomization["resources"])
    present = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
    assert listed == present


def test_ray_runs_the_pinned_version_in_the_schedulers_image():
    pin = _ray_pin()
    (cluster,) = _of_kind("RayCluster")
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == pin
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    ray_images = {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    jobport_images = {c["image"] for d in _of_kind("Deployment") for c in _containers(d)}
    # the actors run jobport's code, and the scheduler is their Ray driver: one image for all
    assert len(ray_images) == 1 and ray_images == jobport_images, (ray_images, jobport_images)
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert set(re.findall(r"ray(?:\[[a-z,]+\])?==([0-9.]+)", dockerfile)) == {pin}


def _settings_environment(placeholder: str) -> dict[str, str]:
    env = {}
    for doc in _of_kind("ConfigMap") + _of_kind("Secret"):
        if doc["metadata"]["name"].startswith("jobport-ray"):
            continue
        for key, value in {**doc.get("data", {}), **doc.get("stringData", {})}.items():
            env[key] = str(value).replace("REPLACE_ME", placeholder)
    return env


@pytest.mark.parametrize("role", ["api", "scheduler"])
def test_the_filled_in_settings_start_each_role(monkeypatch, tmp_path, role):
    for key, value in _settings_environment("0" * 64).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JOBPORT_HOME", str(tmp_path))
    settings = Settings(role=role)
    assert settings.resolved_database_url.startswith("postgresql")


def test_a_forgotten_secret_key_placeholder_stops_the_server(monkeypatch, tmp_path):
    for key, value in _settings_environment("0" * 64).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JOBPORT_HOME", str(tmp_path))
    monkeypatch.setenv("JOBPORT_SECRET_KEY", "REPLACE_ME")
    with pytest.raises(ValidationError, match="secret_key must be at least 32 characters"):
        Settings(role="api")

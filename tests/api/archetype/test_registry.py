"""Pipeline registry: list, get (by id or key), schema generated from the pydantic config model."""


def test_list_get_and_schema(api):
    listing = api.get("/v0.5/batch/registry/pipelines").json()
    assert listing["total"] >= 1 and listing["offset"] == 0
    ms = next(p for p in listing["pipelines"] if p["pipeline_key"] == "machine-state-classification")
    assert ms["id"].startswith("ppl_")
    assert ms["pipeline_version"] == "1.1.1"
    assert ms["name"] == "Machine State Classification"
    assert ms["status"] == "published" and ms["pipeline_type"] == "batch"
    assert ms["components"]["worker"].startswith("cmp_")
    ports = {p["name"]: p for p in ms["inputs"]}
    assert ports["worker.inference"] == {"name": "worker.inference", "description": "Input files",
                                         "mode": "plain_file_list", "distribute": "scatter",
                                         "required": True, "tracked": True}
    assert ports["worker.n_shots"]["mode"] == "n_shot_file_list"
    assert ports["worker.n_shots"]["distribute"] == "replicate" and ports["worker.n_shots"]["tracked"] is False
    assert [p["name"] for p in ms["outputs"]] == ["worker.results"]
    default = ms["default_config"]["worker"]
    assert default["parallelism"] == 1
    assert default["config"]["classifier_config"] == {"n_neighbors": 5, "metric": "euclidean", "weights": "uniform",
                                                      "normalize_embeddings": False}

    assert api.get(f"/v0.5/batch/registry/pipelines/{ms['id']}").json()["id"] == ms["id"]
    assert api.get("/v0.5/batch/registry/pipelines/machine-state-classification").json()["id"] == ms["id"]

    schema = api.get(f"/v0.5/batch/registry/pipelines/{ms['id']}/schema").json()
    user = schema["user_schema"]
    assert set(user["properties"]) >= {"model_type", "batch_size", "reader_config", "classifier_config",
                                       "flush_every_n_iteration"}
    assert "omega_1_4_base" in str(user["properties"]["model_type"])
    assert schema["inputs"] == ms["inputs"]
    assert list(ms) == ["id", "pipeline_key", "pipeline_version", "name", "description", "pipeline_type", "components",
                        "default_config", "config_schema", "user_config_schema", "edges", "inputs", "outputs",
                        "retry_policy", "visibility", "org_id", "status", "created_at", "updated_at"]
    assert ms["retry_policy"] == {"max_attempts": 3} and ms["org_id"] is None
    assert list(schema) == ["id", "pipeline_key", "pipeline_version", "user_schema", "config_schema", "inputs",
                            "outputs"]


def test_filters_and_unknown(api):
    training = api.get("/v0.5/batch/registry/pipelines", params={"pipeline_type": "training"}).json()
    assert sorted(p["pipeline_key"] for p in training["pipelines"]) == ["machine-state-evaluation", "tabular-training"]
    assert api.get("/v0.5/batch/registry/pipelines", params={"status": "draft"}).json()["total"] == 0
    for path in ("/v0.5/batch/registry/pipelines/ppl_nope", "/v0.5/batch/registry/pipelines/ppl_nope/schema"):
        r = api.get(path)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    assert api.get("/v0.5/batch/registry/pipelines", params={"pipeline_type": "nope"}).status_code == 400

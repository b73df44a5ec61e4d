"""activity-detection jobs on the Archetype surface with the real embedded model (SmolLM2-135M
through llama.cpp): ordering, per-line errors, determinism, events, and create-time 400s."""

from __future__ import annotations

import orjson

from helpers import upload, wait_for

GREEDY = {"do_sample": False, "max_new_tokens": 24}


def ad_body(files: list[str], **config) -> dict:
    config.setdefault("generation", GREEDY)
    return {
        "name": "ad",
        "pipeline_type": "batch",
        "pipeline_key": "activity-detection",
        "inputs": {"worker.data": [{"file_id": f} for f in files]},
        "parameters": {"worker": {"config": config}},
    }


def jsonl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


def results(api, job_id: str) -> list[dict]:
    outputs = api.get(f"/v0.5/batch/jobs/{job_id}/outputs").json()["outputs"]
    assert all(o["port_name"] == "worker.result" for o in outputs)
    outputs.sort(key=lambda o: int(o["data"]["filename"].rsplit("_", 1)[1].split(".")[0]))
    rows = []
    for out in outputs:
        resp = api.client.get(out["data"]["ref"])
        assert resp.status_code == 200
        rows += [orjson.loads(line) for line in resp.text.splitlines()]
    return rows


PROMPTS = jsonl(
    {"prompt": "What is 2+2?"},
    {"instruction": "Describe the activity in one sentence.", "prompt": "A person runs along a beach at sunrise."},
    b"this line is not json",
    {"inputs": [{"type": "image", "format": "base64", "data": "aGVsbG8="}]},
    {"inputs": [{"type": "sound", "format": "plain", "data": "x"}]},
    {"prompt": "Name a colour."},
)


def test_real_model_predictions_in_order_with_per_line_errors(api):
    upload(api, "prompts.jsonl", PROMPTS, "text/plain")
    r = api.post("/v0.5/batch/jobs", json=ad_body(["prompts.jsonl"], batch_size=2))
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["pipeline_version"] == "0.0.20"
    assert job["parameters"]["worker"]["config"]["model_variant"] == "smollm2-135m-instruct"
    done = wait_for(api, job["id"], timeout=300)
    assert done["status"] == "COMPLETED", done
    rows = results(api, job["id"])
    assert [row["line_index"] for row in rows] == list(range(6))
    for i in (0, 1, 5):
        assert isinstance(rows[i]["prediction"], str) and rows[i]["prediction"].strip(), rows[i]
        assert "error" not in rows[i]
    assert "4" in rows[0]["prediction"]  # SmolLM2-135M's greedy answer: "The answer ... is 4."
    assert rows[2]["prediction"] is None and "parse error" in rows[2]["error"]
    assert "text-only" in rows[3]["error"]
    assert "inputs.0.type" in rows[4]["error"]

    events = api.get(f"/v0.5/batch/jobs/{job['id']}/events", params={"limit": 200}).json()["events"]
    usage = next(e for e in events if e["event_type"] == "inference.usage")
    assert usage["payload"]["succeeded"] == 3 and usage["payload"]["failed"] == 3
    assert usage["payload"]["tokens_out"] > 0 and usage["payload"]["tokens_per_second"] > 0
    entries = api.get(f"/v0.5/batch/jobs/{job['id']}/progress").json()["entries"]
    assert [e["metrics"]["items_processed"] for e in entries if e["metrics"]["items_total"] == 6][-1] == 6

    # greedy decoding: the same file gives the same predictions
    again = api.post("/v0.5/batch/jobs", json=ad_body(["prompts.jsonl"], batch_size=3)).json()
    assert wait_for(api, again["id"], timeout=300)["status"] == "COMPLETED"
    assert results(api, again["id"]) == rows


def test_a_csv_file_completes_with_error_lines_and_an_error_event(api):
    upload(api, "sensors.jsonl", b"timestamp,a,b\n1,2,3\n2,3,4\n", "text/plain")
    job = api.post("/v0.5/batch/jobs", json=ad_body(["sensors.jsonl"])).json()
    done = wait_for(api, job["id"], timeout=120)
    assert done["status"] == "COMPLETED"
    rows = results(api, job["id"])
    assert len(rows) == 3 and all(row["prediction"] is None for row in rows)
    errors = api.get(f"/v0.5/batch/jobs/{job['id']}/events", params={"level": "ERROR"}).json()["events"]
    assert any(e["event_type"] == "inference.format" and "CSV" in e["message"] for e in errors), errors


def test_vendor_model_name_runs_with_a_warning(api):
    upload(api, "one.jsonl", jsonl({"prompt": "Say hi."}), "text/plain")
    r = api.post("/v0.5/batch/jobs", json=ad_body(["one.jsonl"], model_variant="newton/c:2.5.1-8b-base",
                                                    generation={"do_sample": False, "max_new_tokens": 4}))
    assert r.status_code == 201, r.text
    assert wait_for(api, r.json()["id"], timeout=120)["status"] == "COMPLETED"
    warns = api.get(f"/v0.5/batch/jobs/{r.json()['id']}/events", params={"level": "WARN"}).json()["events"]
    assert any("alias" in e["message"] for e in warns)


def test_create_time_errors(api):
    upload(api, "ok.jsonl", jsonl({"prompt": "x"}), "text/plain")
    upload(api, "empty.jsonl", b"\n  \n", "text/plain")  # blank lines only (an empty upload is refused earlier)

    r = api.post("/v0.5/batch/jobs", json=ad_body(["ok.jsonl"], model_variant="gpt-99"))
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert "gpt-99" in err["message"] and "smollm2-135m-instruct" in err["suggestion"]

    r = api.post("/v0.5/batch/jobs", json=ad_body(["ok.jsonl"], generation={"temperature": 9}))
    assert r.status_code == 400 and "temperature" in r.text

    r = api.post("/v0.5/batch/jobs", json=ad_body(["empty.jsonl"]))
    assert r.status_code == 400 and "empty.jsonl" in r.text

    assert api.get("/v0.5/batch/jobs").json()["total"] == 0  # nothing half-written (a fresh org)


def test_model_catalogue_endpoint(api):
    models = api.get("/v0.5/models").json()
    assert models["total"] >= 1
    builtin = next(m for m in models["models"] if m["name"] == "smollm2-135m-instruct")
    assert builtin["kind"] == "gguf" and "newton/c:2.5.1-8b-base" in builtin["aliases"]
    assert "path" not in builtin and "base_url" not in builtin

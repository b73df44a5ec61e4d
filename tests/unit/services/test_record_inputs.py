"""The rules of a super.AI-style create request, without HTTP: where the input objects come from
(inline, or a JSON file fetched behind the SSRF guard from a real server on 127.0.0.1), their shape
and count limits, the request size, the job type and the parked flag."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from helpers import make_settings
from jobport.domain.errors import Invalid, TooLarge
from jobport.services.jobs import records
from receivers import FileServer

ROW = {"sepal_length": 5.1}
FILES = {
    "/inputs.json": json.dumps([ROW, {"b": 2}]).encode(),
    "/object.json": b'{"a": 1}',
    "/numbers.json": b"[1, 2]",
    "/text.json": b"not json at all",
    "/big.json": b"[" + b" " * 4096 + b"]",
}


@pytest.fixture(scope="module")
def file_server():
    files = FileServer(FILES)
    yield files.url
    files.close()


def _ctx(tmp_path, **settings):
    """The rules read only the settings of the context."""
    return SimpleNamespace(settings=make_settings(home=tmp_path, **settings))


@pytest.fixture
def ctx(tmp_path):
    return _ctx(tmp_path, fetch_allow_private_networks=True, superai_inputs_max_bytes=1024)


def _problem(err: pytest.ExceptionInfo) -> tuple[str, str | None]:
    return err.value.message, err.value.field


def test_inline_inputs_are_returned_as_given(ctx):
    assert records.inputs_of(ctx, [ROW, ROW], None) == [ROW, ROW]


@pytest.mark.parametrize("inputs, url, message", [
    (None, None, "give either `inputs` or `inputsFileUrl`"),
    ([ROW], "https://example.com/a.json", "give only one of `inputs` and `inputsFileUrl`"),
])
def test_exactly_one_source(ctx, inputs, url, message):
    with pytest.raises(Invalid) as err:
        records.inputs_of(ctx, inputs, url)
    assert _problem(err) == (message, "inputs")
    assert "JSON file" in err.value.suggestion


@pytest.mark.parametrize("inputs", [{"a": 1}, [], [1, 2], [ROW, "x"], "text"])
def test_inline_inputs_must_be_a_non_empty_array_of_objects(ctx, inputs):
    with pytest.raises(Invalid) as err:
        records.inputs_of(ctx, inputs, None)
    assert _problem(err) == ("inputs: expected a non-empty array of objects", "inputs")


def test_at_most_max_jobs_per_request(tmp_path):
    ctx = _ctx(tmp_path, superai_max_jobs_per_request=3)
    assert len(records.inputs_of(ctx, [ROW] * 3, None)) == 3
    with pytest.raises(Invalid) as err:
        records.inputs_of(ctx, [ROW] * 4, None)
    assert _problem(err) == ("inputs: 4 inputs is more than 3 per request", "inputs")


def test_inputs_file_url_is_fetched_and_parsed(ctx, file_server):
    assert records.inputs_of(ctx, None, file_server + "/inputs.json") == [ROW, {"b": 2}]


def test_inputs_file_url_on_a_private_host_is_refused_by_default(tmp_path, file_server):
    with pytest.raises(Invalid) as err:
        records.inputs_of(_ctx(tmp_path), None, file_server + "/inputs.json")
    message, field = _problem(err)
    assert field == "inputsFileUrl" and "refused" in message and "loopback" in message
    assert err.value.code.startswith("fetch_")


@pytest.mark.parametrize("path, error, words", [
    ("/object.json", Invalid, "inputsFileUrl: expected a non-empty array of objects"),
    ("/numbers.json", Invalid, "inputsFileUrl: expected a non-empty array of objects"),
    ("/text.json", Invalid, "inputsFileUrl: the file is not JSON"),
    ("/missing.json", Invalid, "inputsFileUrl: "),
    ("/big.json", TooLarge, "1024-byte limit"),
])
def test_bad_inputs_files(ctx, file_server, path, error, words):
    with pytest.raises(error) as err:
        records.inputs_of(ctx, None, file_server + path)
    message, field = _problem(err)
    assert words in message and field == "inputsFileUrl"


def test_file_inputs_count_against_the_same_limit(tmp_path, file_server):
    ctx = _ctx(tmp_path, fetch_allow_private_networks=True, superai_max_jobs_per_request=1)
    with pytest.raises(Invalid) as err:
        records.inputs_of(ctx, None, file_server + "/inputs.json")
    assert _problem(err) == ("inputsFileUrl: 2 inputs is more than 1 per request", "inputsFileUrl")


def test_request_size_limit(ctx):
    records.check_request_size(ctx, 1024)
    with pytest.raises(TooLarge) as err:
        records.check_request_size(ctx, 1025)
    assert _problem(err) == ("request body is larger than 1024 bytes", "inputs")


def test_job_type_in_any_case():
    assert records.job_type_of("calibration") == "CALIBRATION"
    assert [records.job_type_of(t) for t in records.JOB_TYPES] == list(records.JOB_TYPES)
    with pytest.raises(Invalid) as err:
        records.job_type_of("WEIRD")
    assert _problem(err) == ("jobType: 'WEIRD' is not one of DEFAULT, ONBOARDING, CALIBRATION", "jobType")


@pytest.mark.parametrize("pending, add_to_queue, parked", [
    (None, None, False), (True, None, True), (False, None, False), (None, False, True), (None, True, False),
    (True, True, True), (False, False, True),
])
def test_parked_when_pending_or_not_added_to_the_queue(pending, add_to_queue, parked):
    assert records.is_parked(pending, add_to_queue) is parked


def test_a_record_inputs_row_is_what_its_payload_stores():
    from jobport.domain.payloads import InputPayload

    for filename, line in [("input.jsonl", '{"a":1}'), ("run.json", "{}"), ("x", '{"t":"é"}')]:
        assert InputPayload.record_row(filename, line) == InputPayload.of_record(filename, line).to_row()

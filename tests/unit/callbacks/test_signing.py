"""Callback signatures are Standard Webhooks: verifiable with the reference library, by the
current secret and (during a rotation) the previous one, and only for the exact body."""

import base64
import json

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from jobport.callbacks import payloads, signing
from jobport.store.db import utcnow


def test_new_secret_format():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert signing.new_secret() != secret


def test_headers_verify_with_the_reference_library():
    secret = signing.new_secret()
    payload = payloads.envelope("job.completed", {"id": "job_x", "status": "COMPLETED", "name": "ünïcode"})
    body = payloads.dumps(payload)
    headers = signing.headers([secret], "msg_abc", utcnow(), body)
    assert headers["webhook-id"] == "msg_abc"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "jobport-webhooks/1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body.encode(), headers) == payload
    assert json.loads(body) == payload


def test_wrong_secret_or_changed_body_fails():
    secret = signing.new_secret()
    body = payloads.dumps({"type": "job.failed", "data": {}})
    headers = signing.headers([secret], "msg_1", utcnow(), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("failed", "completed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})


def test_two_secrets_sign_during_a_rotation():
    old, new = signing.new_secret(), signing.new_secret()
    body = payloads.dumps({"type": "job.completed", "data": {"id": "job_y"}})
    headers = signing.headers([new, old], "msg_r", utcnow(), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)


def test_no_secret_is_an_error():
    with pytest.raises(ValueError):
        signing.signature([], "msg", utcnow(), "{}")

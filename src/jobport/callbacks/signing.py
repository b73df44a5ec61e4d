"""Standard Webhooks signatures (https://www.standardwebhooks.com): every attempt carries
`webhook-id` (the delivery's message id, the same on every attempt), `webhook-timestamp` (unix
seconds of this attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
space-separated when more than one secret signs, e.g. during a rotation).

Receivers verify with any Standard Webhooks library, e.g. in Python:
`standardwebhooks.Webhook(secret).verify(body, headers)`.
"""

from __future__ import annotations

import base64
import secrets as _secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
USER_AGENT = "jobport-webhooks/1"


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


def signature(secrets: Sequence[str], message_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` value: one `v1,...` per secret, space-separated."""
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    return " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets)


def headers(secrets: Sequence[str], message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """All headers of one attempt: the three Standard Webhooks headers, content type and user agent."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(secrets, message_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }

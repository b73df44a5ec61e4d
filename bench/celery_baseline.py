"""The Celery + Redis side of the super.AI throughput benchmark: the same work per job as jobport's
record-mode job of the example app (score one Iris record with the same ONNX model, loaded once per
worker process) as a Celery task, with Redis as broker and result backend (db 15 on 127.0.0.1)."""

from __future__ import annotations

import os

from celery import Celery

from baseline_scoring import score

REDIS = os.environ.get("BENCH_CELERY_REDIS", "redis://127.0.0.1:6379/15")

app = Celery("jobport_bench", broker=REDIS, backend=REDIS)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=16, task_acks_late=False, broker_connection_retry_on_startup=True)

@app.task(name="predict")
def predict(record: dict) -> dict:
    return score(record)

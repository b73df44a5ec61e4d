"""The Celery + Redis side of the super.AI throughput benchmark: the same work per job as jobport's
record-mode job of the example app (score one Iris record with the same ONNX model, loaded once per
worker process) as a Celery task, with Redis as broker and result backend (db 15 on 127.0.0.1)."""

from __future__ import annotations

import os

import numpy as np
from celery import Celery

REDIS = os.environ.get("BENCH_CELERY_REDIS", "redis://127.0.0.1:6379/15")
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
OUTPUTS = ("label", "probability_setosa", "probability_versicolor", "probability_virginica")

app = Celery("jobport_bench", broker=REDIS, backend=REDIS)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=16, task_acks_late=False, broker_connection_retry_on_startup=True)

_session = None


def _model():
    global _session
    if _session is None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        _session = ort.InferenceSession(os.environ["BENCH_MODEL_PATH"], options, providers=["CPUExecutionProvider"])
    return _session


@app.task(name="predict")
def predict(record: dict) -> dict:
    session = _model()
    x = np.array([[float(record[f]) for f in FEATURES]], dtype=np.float32)
    label, proba = session.run(None, {session.get_inputs()[0].name: x})
    return {**record, **dict(zip(OUTPUTS, [str(label[0]), *map(float, proba[0])], strict=False))}

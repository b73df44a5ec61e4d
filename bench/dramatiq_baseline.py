"""The Dramatiq + Redis side of the super.AI throughput benchmark, a second baseline beside
`celery_baseline.py`: the same work per job (score one Iris record with the same ONNX model, loaded
once per worker process, and return the record with its label and probabilities) as a Dramatiq
actor, with Redis as broker and, through the `Results` middleware, as result backend (db 14 on
127.0.0.1, so that it never meets the Celery side's db 15), so the client fetches every result.

Workers: `dramatiq dramatiq_baseline --processes <cpus> --threads 1` (`worker_command`). The
scoring is CPU-bound Python (JSON decoding, building the array, `session.run`, the result dict,
the broker's Lua calls), and Dramatiq's worker threads share one GIL per process, so `--processes
1 --threads <cpus>` would run the Python part on one core at a time; one single-threaded process
per CPU is what the other two sides do as well (Celery's prefork pool with `--concurrency <cpus>`,
jobport's default of one worker process per CPU with 1 thread each), so all three use both cores
the same way. `dramatiq_queue_prefetch` is set to 16 per process, the Celery side's
`worker_prefetch_multiplier`; Dramatiq's own default would be 2 × threads = 2 messages in flight
per process, which makes each process wait on a Redis round trip after every other message.
"""

from __future__ import annotations

import os
import sys

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

from baseline_scoring import score

REDIS = os.environ.get("BENCH_DRAMATIQ_REDIS", "redis://127.0.0.1:6379/14")
PREFETCH = 16

broker = RedisBroker(url=REDIS)
broker.add_middleware(Results(backend=RedisBackend(url=REDIS)))
dramatiq.set_broker(broker)

@dramatiq.actor(actor_name="predict", store_results=True, max_retries=0)
def predict(record: dict) -> dict:
    return score(record)


def worker_command(processes: int) -> tuple[list[str], dict[str, str]]:
    """The `dramatiq` CLI (as `python -m dramatiq`, the same interpreter) and the environment for
    it: `processes` single-threaded worker processes, each prefetching `PREFETCH` messages."""
    argv = [sys.executable, "-m", "dramatiq", "dramatiq_baseline", "--processes", str(processes), "--threads", "1"]
    return argv, {"dramatiq_queue_prefetch": str(PREFETCH)}

"""Webhook callbacks: a transactional outbox (`outbox.enqueue` writes a delivery row in the caller's
transaction), Standard Webhooks signatures (`signing`), and the deliverer loop service that sends
due deliveries with retries, leases and an SSRF guard (`deliverer.CallbackDeliverer`).

Kept import-light: the tables are imported by the migration environment and the repositories; the
deliverer (httpx, thread pool) only by the app lifespan.
"""

"""Python client for the native API at `/v0.5` (`JobportClient`); see `client` for the details."""

from jobport.sdk.client import JobportClient, JobportError

__all__ = ["JobportClient", "JobportError"]

"""Blob storage behind a small protocol (`base.BlobStore`): a local directory by default
(`local`), an in-memory fake twin for unit tests (`memory`), and HMAC-signed, expiring download
links (`signing`)."""

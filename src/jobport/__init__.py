"""jobport: a self-hosted batch jobs API for ML pipelines."""

__version__ = "0.1.0"

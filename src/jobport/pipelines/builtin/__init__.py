"""The pipelines that ship with jobport: machine-state classification, activity detection (a
language model over JSONL records) and hosted tabular models (ONNX / skops)."""

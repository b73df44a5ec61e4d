"""The `tabular-model` pipeline: ONNX or skops (scikit-learn) models over CSV, JSON and JSONL records,
with Gravity AI schema-path mapping around the model; plus the POST-time `preflight` check and
an example Iris model.

Modules: `config` (the config model), `paths` (schema paths), `coercion` (field types),
`formats` (MIME types), `readers`/`writers` (streaming record I/O), `mapping` (records -> features),
`results` (output records and output mapping), `models` (ONNX and skops runners), `stream` (the
reading loop shared by the worker and `preflight`), `pipeline`, `preflight`, `example`.
"""

from jobport.pipelines.builtin.tabular.config import FieldSpec, MappingRule, TabularModelConfig
from jobport.pipelines.builtin.tabular.example import (
    ExampleModel,
    build_example_model,
    direct_predict_csv,
    write_iris_csv,
)
from jobport.pipelines.builtin.tabular.formats import ACCEPTED_MIME_TYPES, RecordFormat, parse_mime
from jobport.pipelines.builtin.tabular.pipeline import TabularModelPipeline
from jobport.pipelines.builtin.tabular.preflight import PreflightResult, preflight

__all__ = [
    "ACCEPTED_MIME_TYPES",
    "ExampleModel",
    "FieldSpec",
    "MappingRule",
    "PreflightResult",
    "RecordFormat",
    "TabularModelConfig",
    "TabularModelPipeline",
    "build_example_model",
    "direct_predict_csv",
    "parse_mime",
    "preflight",
    "write_iris_csv",
]

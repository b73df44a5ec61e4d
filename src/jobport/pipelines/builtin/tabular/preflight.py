"""Check a record file before a job is stored: the Gravity surface's POST-time validation.

`preflight` makes one streaming pass with the worker's own readers, mapping and coercions (no
model): every record is parsed and every feature value coerced, and the records are counted (for
billing). It stops at the first problem, which names the line and the column or setting, so a bad
file gets a 400 and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from jobport.pipelines.builtin.tabular.config import TabularModelConfig
from jobport.pipelines.builtin.tabular.errors import RecordError
from jobport.pipelines.builtin.tabular.readers import InputSource
from jobport.pipelines.builtin.tabular.results import OutputBuilder
from jobport.pipelines.builtin.tabular.stream import FeatureStream
from jobport.pipelines.sdk import CreateProblem, Preflight


@dataclass
class PreflightResult(Preflight):
    """`records` counts the records read up to the first problem when there is one."""


def preflight(
    config: TabularModelConfig,
    opener: Callable[[], BinaryIO],
    *,
    name: str = "file",
    path: str | None = None,
) -> PreflightResult:
    """Validate and count the records of one input file.

    `opener` must return a fresh binary stream at the start of the file on each call: a CSV's first
    block is read once for its header, and a file with an error is read again to find its exact
    line. `path`, when the file is local, lets pyarrow read it directly (faster). `name` is used in
    messages. Problems have `field` "file" (the file's content), or the config setting to fix
    (`mapping[i].source`, `features[j].name`, `columns`, `output_mapping[i].source`).
    """
    stream = FeatureStream(config, InputSource(name, opener, path), keep_inputs=False)
    records = 0
    try:
        for chunk, _ in stream:
            records += chunk.rows
    except RecordError as err:
        return PreflightResult(records, [err.problem()])
    if records == 0:
        return PreflightResult(
            0,
            [CreateProblem("file", f"{name} has no records", "Upload a file with at least one record.", "empty_file")],
        )
    problems = _output_mapping_problems(config, stream.columns)
    return PreflightResult(records, problems)


def _output_mapping_problems(config: TabularModelConfig, columns: list[str] | None) -> list[CreateProblem]:
    """Output mapping sources that cannot exist: checkable when the input's fields are known (CSV)."""
    if columns is None or not config.output_mapping:
        return []
    builder = OutputBuilder(config)
    known = set(builder.output_names) | (set(columns) if config.include_inputs else set())
    problems = []
    for i, rule in enumerate(config.output_mapping):
        key = rule.source_path.segments[0].key
        if key not in known and not rule.has_default:
            problems.append(
                CreateProblem(
                    f"output_mapping[{i}].source",
                    f"output_mapping[{i}].source '{rule.source}' is not a field of the output records "
                    f"(fields: {', '.join([*(columns if config.include_inputs else []), *builder.output_names])})",
                    "Use one of those fields, or give the rule a defaultValue.",
                    "missing_column",
                )
            )
    return problems

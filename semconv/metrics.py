"""Metric names, instruments, units and histogram bucket boundaries.

Mirrors the ``type: metric`` groups of ``model/registry.yaml`` and ``model/reference.yaml``;
bucket boundaries live in each group's ``annotations.otelytics.bucket_boundaries``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: what the semconv registry says about it."""

    name: str
    instrument: str  # counter | updowncounter | histogram | gauge
    unit: str
    brief: str
    bucket_boundaries: tuple[float, ...] | None = None


_DURATION_S = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
)

# --- ours ---------------------------------------------------------------------------------
OTELYTICS_ESTIMATOR_DURATION = MetricSpec(
    "otelytics.estimator.duration", "histogram", "s", "Duration of tracked calls.",
    (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
     30.0, 60.0, 120.0, 300.0),
)
OTELYTICS_ESTIMATOR_CALLS = MetricSpec(
    "otelytics.estimator.calls", "counter", "{call}", "Number of tracked calls, by outcome."
)
OTELYTICS_LLM_COST = MetricSpec(
    "otelytics.llm.cost", "counter", "{USD}", "Total cost of priced LLM calls."
)
OTELYTICS_LLM_COST_PER_CALL = MetricSpec(
    "otelytics.llm.cost.per_call", "histogram", "{USD}",
    "Distribution of the cost of one priced LLM call.",
    (0.00001, 0.00003, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
)
OTELYTICS_LLM_UNPRICED_CALLS = MetricSpec(
    "otelytics.llm.unpriced_calls", "counter", "{call}", "LLM calls for which no price is known."
)
OTELYTICS_EXPORTER_DROPPED = MetricSpec(
    "otelytics.exporter.dropped", "counter", "{record}",
    "Rows (spans, metric points, log records) the Parquet exporters or dataset writer dropped.",
)

# --- official -----------------------------------------------------------------------------
GEN_AI_CLIENT_TOKEN_USAGE = MetricSpec(
    "gen_ai.client.token.usage", "histogram", "{token}", "Number of input and output tokens used.",
    (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864),
)
GEN_AI_CLIENT_OPERATION_DURATION = MetricSpec(
    "gen_ai.client.operation.duration", "histogram", "s", "GenAI operation duration.", _DURATION_S
)
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = MetricSpec(
    "gen_ai.client.operation.time_to_first_chunk", "histogram", "s",
    "Time to receive the first chunk of a streaming response.", _DURATION_S,
)
PROCESS_CPU_TIME = MetricSpec(
    "process.cpu.time", "counter", "s", "Total CPU seconds broken down by different CPU modes."
)
PROCESS_CPU_UTILIZATION = MetricSpec(
    "process.cpu.utilization", "gauge", "1",
    "CPU usage since the last measurement, divided by the elapsed time and the number of CPUs "
    "available to the process.",
)
PROCESS_MEMORY_USAGE = MetricSpec(
    "process.memory.usage", "updowncounter", "By", "The amount of physical memory in use."
)
PROCESS_MEMORY_VIRTUAL = MetricSpec(
    "process.memory.virtual", "updowncounter", "By", "The amount of committed virtual memory."
)
PROCESS_THREAD_COUNT = MetricSpec(
    "process.thread.count", "updowncounter", "{thread}", "Process threads count."
)
PROCESS_UNIX_FILE_DESCRIPTOR_COUNT = MetricSpec(
    "process.unix.file_descriptor.count", "updowncounter", "{file_descriptor}",
    "Number of unix file descriptors in use by the process.",
)

ALL_METRICS: tuple[MetricSpec, ...] = tuple(
    v for v in list(globals().values()) if isinstance(v, MetricSpec)
)

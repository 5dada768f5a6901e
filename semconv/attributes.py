"""Attribute names: ours (``otelytics.*``) and the official ones we use.

Every name here is defined in ``model/registry.yaml`` (ours) or ``model/reference.yaml``
(official); ``tests/test_semconv.py`` checks that the two agree in both directions.
"""

from __future__ import annotations

from enum import Enum

# --- otelytics.* (model/registry.yaml) ---------------------------------------------------
OTELYTICS_SPAN_TYPE = "otelytics.span.type"

OTELYTICS_ESTIMATOR_NAME = "otelytics.estimator.name"
OTELYTICS_ESTIMATOR_DATA_LENGTH = "otelytics.estimator.data_length"
OTELYTICS_ESTIMATOR_OUTCOME = "otelytics.estimator.outcome"
OTELYTICS_ESTIMATOR_PARAM = "otelytics.estimator.param"
"""Template attribute: the full name is ``otelytics.estimator.param.<parameter name>``."""

OTELYTICS_WORKFLOW_NAME = "otelytics.workflow.name"
OTELYTICS_WORKFLOW_STEP = "otelytics.workflow.step"
OTELYTICS_WORKFLOW_STEP_INDEX = "otelytics.workflow.step.index"

OTELYTICS_SESSION_NAME = "otelytics.session.name"

OTELYTICS_PROCESS_CPU_TIME = "otelytics.process.cpu_time"
OTELYTICS_PROCESS_MEMORY_RSS_DELTA = "otelytics.process.memory.rss_delta"
OTELYTICS_PROCESS_MEMORY_PEAK = "otelytics.process.memory.peak"

OTELYTICS_COST_USD = "otelytics.cost.usd"
OTELYTICS_COST_SOURCE = "otelytics.cost.source"
OTELYTICS_COST_PRICE_VERSION = "otelytics.cost.price_version"

OTELYTICS_USAGE_ESTIMATED = "otelytics.usage.estimated"

OTELYTICS_RECEIVER_SIGNAL = "otelytics.receiver.signal"
OTELYTICS_RECEIVER_REFUSAL = "otelytics.receiver.refusal"
OTELYTICS_REQUEST_FINGERPRINT = "otelytics.request.fingerprint"

OTELYTICS_RESPONSE_TOOL_CALL_NAMES = "otelytics.response.tool_call.names"
OTELYTICS_RESPONSE_TOOL_CALL_IDS = "otelytics.response.tool_call.ids"

OTELYTICS_ROLLUP_LLM_CALLS = "otelytics.rollup.llm_calls"
OTELYTICS_ROLLUP_INPUT_TOKENS = "otelytics.rollup.input_tokens"
OTELYTICS_ROLLUP_OUTPUT_TOKENS = "otelytics.rollup.output_tokens"
OTELYTICS_ROLLUP_COST_USD = "otelytics.rollup.cost.usd"
OTELYTICS_ROLLUP_UNPRICED_CALLS = "otelytics.rollup.unpriced_calls"

OTELYTICS_SIGNAL = "otelytics.signal"
OTELYTICS_DROP_REASON = "otelytics.drop.reason"


class OtelyticsSpanTypeValues(Enum):
    FUNCTION = "function"
    WORKFLOW = "workflow"
    SESSION = "session"
    LLM = "llm"
    TOOL = "tool"


class OtelyticsEstimatorOutcomeValues(Enum):
    OK = "ok"
    ERROR = "error"


class OtelyticsCostSourceValues(Enum):
    PROVIDER = "provider"
    PRICE_TABLE = "price_table"
    USER = "user"
    UNPRICED = "unpriced"


class OtelyticsSignalValues(Enum):
    SPANS = "spans"
    METRICS = "metrics"
    LOGS = "logs"


class OtelyticsDropReasonValues(Enum):
    QUEUE_FULL = "queue_full"
    BUFFER_FULL = "buffer_full"
    WRITE_ERROR = "write_error"
    SHUTDOWN = "shutdown"
    CONVERT_ERROR = "convert_error"
    CLOSED = "closed"


# --- official names (model/reference.yaml) -----------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_ALIAS = "gen_ai.usage.cache_read_input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_ALIAS = "gen_ai.usage.cache_creation_input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS_ALIAS = "gen_ai.usage.cache_write_input_tokens"

# --- OpenInference names we read (model/reference.yaml, reference.openinference) ----------
LLM_MODEL_NAME = "llm.model_name"
LLM_PROVIDER = "llm.provider"
LLM_SYSTEM = "llm.system"
LLM_TOKEN_COUNT_PROMPT = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION = "llm.token_count.completion"
LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ = "llm.token_count.prompt_details.cache_read"
LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_WRITE = "llm.token_count.prompt_details.cache_write"
LLM_TOKEN_COUNT_COMPLETION_DETAILS_REASONING = "llm.token_count.completion_details.reasoning"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"

CODE_FUNCTION_NAME = "code.function.name"
CODE_FILE_PATH = "code.file.path"
CODE_LINE_NUMBER = "code.line.number"
SESSION_ID = "session.id"
USER_ID = "user.id"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
SERVICE_NAME = "service.name"
CPU_MODE = "cpu.mode"

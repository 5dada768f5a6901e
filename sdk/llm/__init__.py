"""LLM call instrumentation: OpenAI and Anthropic instrumentors, llm_call, pricing, enrichment."""

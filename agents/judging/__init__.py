"""The LLM judge client (OpenAI-compatible), its answer parser and rate limits, the embedded judge server."""

"""LLM providers: the interface, an OpenAI-compatible client, and the cleaner that uses it."""

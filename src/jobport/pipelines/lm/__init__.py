"""Language-model backends for record pipelines: the model catalogue an admin controls
(`catalogue`) and the backends that run chat completions (`llamacpp`: a GGUF file in-process;
`openai`: any OpenAI-compatible HTTP server)."""

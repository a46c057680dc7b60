"""The gateway's faces: routing and client keys (``app``), admin routes, request reading and
error responses; the OpenAI chat completions face is ``openai/``."""

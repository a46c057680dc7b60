"""The OpenAI face of the gateway: request validation, routes, SSE framing, error responses."""

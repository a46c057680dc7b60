"""The OpenAI Responses face: ``POST /v1/responses`` for Codex CLI and the Agents SDK.

Pure modules (``validation``, ``items``, ``events``) turn a Responses body into the internal
request and the reply's events back into Responses objects and stream events; ``handler`` is
the thin ASGI handler, and ``conversations.responses`` keeps what ``previous_response_id``
needs.
"""

"""The Anthropic Messages face: ``/v1/messages`` and ``/v1/messages/count_tokens``.

Pure modules (``validation``, ``content``, ``events``, ``errors``, ``models``, ``tokens``) turn
a Messages body into the internal request and the reply's events back into Anthropic's shapes;
``messages`` is the thin ASGI handler around them.
"""

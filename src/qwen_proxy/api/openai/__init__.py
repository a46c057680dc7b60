"""The OpenAI chat completions face: validation into the internal request, events into chunks."""

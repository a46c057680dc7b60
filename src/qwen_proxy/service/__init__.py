"""One completion end to end: plan the conversation, lease an account, retry, reply, record.

Face-independent: the API faces hand it an internal request (``qwen_proxy.messages``) and read
the reply's events; it never knows which face a request came from.

- ``completion``: ``CompletionService.open``, the loop that executes the retry decisions;
- ``plan``: a request onto a known conversation node, or a new chat with the history folded;
- ``retry``: the retry policy, pure: what to do after a failure, given what was tried;
- ``outcomes``: what an upstream error means for the account that got it;
- ``reply``: a reply from its first content to its recorded node and released account;
- ``body``: the upstream body of one attempt (thinking, chat type, content);
- ``upstream``: the two client calls the service makes (the seam tests fake);
- ``models``, ``limits``, ``gateway``: the model catalog, stop/max_tokens, the wiring.
"""

"""One completion end to end: plan the conversation, lease an account, retry, reply, record.

Face-independent: the API faces hand it an internal request (``qwen_proxy.messages``) and read
the reply's events; it never knows which face a request came from.
"""

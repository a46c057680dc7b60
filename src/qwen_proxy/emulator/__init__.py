"""The offline Qwen web service (chat.qwen.ai API v2) that tests, benchmarks and demos run against.

Same paths, JSON and SSE shapes as ``/work/shared/qwen-protocol.md``; chats are real message
trees per account; a deterministic recall model (``model.py`` documents its answers); faults
(``faults.py`` documents names, scopes and magic words); seeded fragmented writes (``wire.py``).
Standalone: it imports nothing from the gateway's runtime.

Use: ``qwen-proxy emulator --port 8900`` / ``python -m qwen_proxy.emulator``, or in tests
``with running_emulator(EmulatorConfig.default()) as emu:`` (``testing.py``).

Ceiling (measured, see the report of issue 2): filled in below by the benchmark.
"""

"""The offline Qwen web service (chat.qwen.ai API v2) that tests, benchmarks and demos run against.

Same paths, JSON and SSE shapes as the real service (docs/upstream.md); chats are real message
trees per account; a deterministic recall model (``model.py`` documents its answers) that
answers tool prompts with calls in every shape models write (``toolmodel.py``); faults
(``faults.py`` documents names, scopes and magic words); seeded fragmented writes (``wire.py``).
It speaks two eras of the upstream (``config.py``): by default today's, where an account is a
browser session behind a firewall (``sessions.py``, ``guard.py``) with an auth host for sign-in
and renewal (``auth.py``); or mid-2026's, where a token alone opens every route. Uploads go to
a local object store that checks each PUT's signature, documents parse with a delay
(``objects.py``), the model reports what files a message carried (``attachments.py``), and
image turns answer with images it serves, under a daily quota (``images.py``). Standalone: it
imports nothing from the gateway's runtime.

Use: ``qwen-proxy emulator --port 8900`` / ``python -m qwen_proxy.emulator``, or in tests
``with running_emulator(EmulatorConfig.default()) as emu:`` (``testing.py``).

Ceiling, measured on the 2-core box: server pinned to one core (uvloop, ``--no-record``),
raw-socket client on the other, one chat per stream (a throwaway script, not kept):

* ``--no-fragment``, no delay: ~160,000 events/s (950 streams/s of 175 events); short
  answers ~2,300-2,900 streams/s (10 events each), 32 streams at a time.
* fragmenting on: ~51,000 events/s (300 streams/s of 170 events); short answers 1,800/s.
* 1,000 concurrent trickled streams (50 ms between events) on one core: all served,
  13,700 events/s, wall time 2.75 s for 1.65 s of scheduled delays.
"""

"""``qwen-proxy demo``: the gateway against the offline emulator, with examples that work."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from qwen_proxy.accounts.credentials import Credentials
from qwen_proxy.accounts.storage import accounts_path, save_accounts
from qwen_proxy.config import Settings, StartupError
from qwen_proxy.emulator.testing import EmulatorHandle, running_emulator

DEMO_MODEL = "qwen3.7-plus"


def examples(base_url: str, python: str = sys.executable) -> str:
    """The copy-paste examples printed by the demo (``python`` has the openai package)."""
    return f"""\
Try it (the emulator answers deterministically, e.g. it remembers "my name is ..."):

  curl -N {base_url}/v1/chat/completions \\
    -H 'Content-Type: application/json' \\
    -d '{{"model": "{DEMO_MODEL}", "stream": true,
         "messages": [{{"role": "user", "content": "Hello! My name is Ada."}}]}}'

  {python} - <<'PY'
  from openai import OpenAI
  client = OpenAI(base_url="{base_url}/v1", api_key="unused")
  stream = client.chat.completions.create(
      model="{DEMO_MODEL}", stream=True,
      messages=[{{"role": "user", "content": "Hello! My name is Ada."}}])
  for chunk in stream:
      print(chunk.choices[0].delta.content or "", end="", flush=True) if chunk.choices else None
  print()
  PY
"""


def demo_session(emulator: EmulatorHandle) -> Credentials:
    """The emulator's sample account as the browser session a user would paste."""
    account = emulator.accounts[0]
    return Credentials(
        name="demo",
        token=account.token,
        cookies=account.cookies or None,
        bx_ua=account.bx_ua or None,
        bx_umidtoken=account.bx_umidtoken or None,
        bx_v=account.bx_v or None,
    )


def run_demo(*, port: int, self_test: bool) -> int:
    """Serve until Ctrl-C, or (self_test) send one streamed request and exit."""
    from qwen_proxy.server.run import BackgroundGateway, listen_socket, serve

    # bind first: a busy port is said before anything else is printed or started
    hint = f"choose another with --port, e.g. qwen-proxy demo --port {port + 1}"
    sock = None if self_test else listen_socket("127.0.0.1", port, hint=hint)
    data_dir = Path(tempfile.mkdtemp(prefix="qwen-proxy-demo-"))
    # today's upstream: the gateway holds the emulator's account as a user adds one (its
    # browser session) and renews its 15-minute tokens for as long as the demo runs
    with running_emulator() as emulator:
        save_accounts(accounts_path(data_dir), [demo_session(emulator)])
        settings = Settings(
            port=0 if self_test else port,
            upstream_url=emulator.url,
            auth_url=emulator.auth_url,
            data_dir=data_dir,
            # uploads (images, files, long histories) go to the emulator's object store
            oss_url=emulator.url + "/oss",
            log_level="warning",
        )
        if not self_test:
            print(f"Emulated Qwen web service at {emulator.url} (offline, no account needed)")
            print(f"Gateway at http://127.0.0.1:{port}/v1\n")
            print(examples(f"http://127.0.0.1:{port}"), flush=True)
            return serve(settings, sock=sock)
        with BackgroundGateway(settings) as gateway:
            try:
                from openai import OpenAI
            except ImportError:
                raise StartupError(
                    "the self-test needs the openai package: pip install 'qwen-proxy[demo]' "
                    "(./scripts/demo installs it)"
                ) from None

            client = OpenAI(base_url=gateway.url + "/v1", api_key="unused")
            stream = client.chat.completions.create(
                model=DEMO_MODEL,
                stream=True,
                messages=[{"role": "user", "content": "Hello! My name is Ada."}],
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    print(chunk.choices[0].delta.content, end="", flush=True)
            print()
    return 0

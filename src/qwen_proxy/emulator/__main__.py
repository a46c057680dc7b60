"""``python -m qwen_proxy.emulator --port N``."""

from qwen_proxy.emulator.cli import main

raise SystemExit(main())

"""``python -m qwen_proxy``: the same as the ``qwen-proxy`` command."""

import os
import sys

from qwen_proxy.cli.main import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
sys.exit(main())

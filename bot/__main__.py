"""Entry point: `python -m bot [run|generate|check|sync]`."""

from __future__ import annotations

import sys

from bot.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())

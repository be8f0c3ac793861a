"""Copy stdin to a file, each line prefixed with the monotonic clock at which it arrived.

The bot's log has one-second timestamps; the benchmark needs milliseconds. Run as its own
process so it keeps stamping promptly while the benchmark's event loop is busy serving the
fakes. `time.monotonic()` is CLOCK_MONOTONIC, the same clock in every process on Linux.
"""

from __future__ import annotations

import sys
import time


def main(path: str) -> int:
    with open(path, "wb") as out:
        for line in sys.stdin.buffer:
            out.write(b"%.6f " % time.monotonic() + line)
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

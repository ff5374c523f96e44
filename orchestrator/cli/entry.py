"""The `orchestrator` console script: start what every answering command needs, then the command line."""

from __future__ import annotations

import signal
import sys

# Commands that start the SymPy worker anyway (the app warms it for every question; a plain math
# question needs nothing else). SymPy takes about 0.55 s to import in the worker, so starting it before
# the command modules import (about 0.25 s) shortens a cold `ask "What is 40366/439?"` by that much.
ANSWERING_COMMANDS = ("ask", "chat", "batch")
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report it


def main() -> None:
    """Run the command line named in sys.argv; Ctrl-C before a command has started exits quietly too."""
    try:
        if sys.argv[1:2] and sys.argv[1] in ANSWERING_COMMANDS:
            from orchestrator.tools.math import warm_up_in_background

            warm_up_in_background()
        from orchestrator.cli import app
    except KeyboardInterrupt:  # while the libraries import: the commands' own handler is not in place yet
        sys.stderr.write("Interrupted.\n")
        sys.exit(INTERRUPTED_EXIT_CODE)
    try:
        app(prog_name="orchestrator")
    finally:
        # The command is over; a late Ctrl-C must not interrupt the clean-up (atexit stops the SymPy worker).
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()

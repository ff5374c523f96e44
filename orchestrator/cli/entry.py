"""The `orchestrator` console script: start what every answering command needs, then the command line."""

from __future__ import annotations

import signal
import sys

# Commands that start the SymPy worker anyway (the app warms it for every question; a plain math
# question needs nothing else). SymPy takes about 0.55 s to import in the worker, so starting it before
# the command modules import (about 0.25 s) shortens a cold `ask "What is 40366/439?"` by that much.
ANSWERING_COMMANDS = ("ask", "chat", "batch")
# Commands that answer once and end: nothing they hold outlives them, so the process ends without
# tearing the interpreter down (`exit_now`).
ONE_SHOT_COMMANDS = ("ask",)
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
    status: str | int | None = 0
    try:
        app(prog_name="orchestrator")
    except SystemExit as exc:  # click ends every command this way
        status = exc.code
    finally:
        # The command is over; a late Ctrl-C must not interrupt the clean-up (atexit stops the SymPy worker).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.argv[1:2] and sys.argv[1] in ONE_SHOT_COMMANDS:
        exit_now(status)
    sys.exit(status)


def exit_code(status: str | int | None) -> int:
    """The process exit code of a SystemExit's code: None is 0, a number itself, a message (written to stderr) 1."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status
    sys.stderr.write(f"{status}\n")
    return 1


def exit_now(status: str | int | None) -> None:
    """End the process without tearing the interpreter down, once its output and atexit handlers are done.

    Interpreter shutdown frees the llama.cpp models, Chroma's client and every module one object at a
    time; the operating system frees all of it at once. Measured on a cold `ask "Hi"`: the shutdown took
    0.2-0.4 s of CPU and 1.4-1.9 s of wall clock on a loaded machine (3 runs each way).
    Non-daemon threads are joined and the atexit handlers run (the SymPy worker stops), as in a normal exit.
    """
    import atexit
    import os
    import threading

    code = exit_code(status)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    main()

"""A real `orchestrator chat` process whose first answer waits inside a C library's callbacks, as a model load does.

llama.cpp calls back into Python (llama-cpp-python's log callback) while it loads a model, so a Ctrl-C
pressed then is raised inside a ctypes callback, where ctypes swallows it. Here the first answer's
"load" is libc's qsort calling a Python comparator that sleeps; the chat model then replies as scripted.

Run as `python -m tests.helpers.slow_load_repl MARKER_FILE` from the repository root: the marker file
appears when the load starts. ORCH_DATA_DIR and ORCH_COLLECTION come from the environment.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time
from pathlib import Path

from tests.helpers.fake_chat import ScriptedChatModel

LOAD_SECONDS = 4.0


def load_in_c_callbacks(seconds: float) -> None:
    """Spend about `seconds` in Python code that C calls (qsort's comparator), as llama.cpp's load does."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    compare_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    deadline = time.monotonic() + seconds

    def compare(a, b) -> int:
        if time.monotonic() < deadline:
            time.sleep(0.002)
        return 0

    values = (ctypes.c_int * 4000)()
    callback = compare_type(compare)
    while time.monotonic() < deadline:
        libc.qsort(values, len(values), ctypes.sizeof(ctypes.c_int), callback)


class SlowLoadingChatModel(ScriptedChatModel):
    """Its first stream "loads" in C callbacks first (and writes the marker file when it starts)."""

    marker: str = ""
    loaded: bool = False

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        if not self.loaded:
            Path(self.marker).write_text("loading", encoding="utf-8")
            load_in_c_callbacks(LOAD_SECONDS)
            self.loaded = True
        yield from super()._stream(messages, stop, run_manager, **kwargs)


def main() -> None:
    from orchestrator.cli import common
    from orchestrator.cli.entry import main as orchestrator_main
    from tests.helpers.fake_cli import FakeModelAppMaker

    model = SlowLoadingChatModel(replies=["FIRST ANSWER", "SECOND ANSWER"], history=[], marker=sys.argv[1])
    common.app_maker = FakeModelAppMaker(model)
    sys.argv = ["orchestrator", "chat", "--no-log"]
    orchestrator_main()


if __name__ == "__main__":
    main()

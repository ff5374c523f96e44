"""`ask` ends its process without tearing the interpreter down, yet as a normal exit would (issue 30, item 4)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from orchestrator.cli import entry


def test_exit_now_flushes_output_runs_atexit_handlers_and_keeps_the_code(tmp_path):
    marker = tmp_path / "atexit-ran"
    script = textwrap.dedent(
        f"""
        import atexit, sys, threading, time
        from orchestrator.cli.entry import exit_now
        atexit.register(lambda: open({str(marker)!r}, "w").write("done"))
        late = []
        worker = threading.Thread(target=lambda: (time.sleep(0.2), late.append(1), print("joined", end="")))
        worker.start()
        print("answer without a newline", end="")
        sys.stderr.write("a note")
        exit_now(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == "answer without a newlinejoined"  # buffered output is not lost; threads finished
    assert done.stderr == "a note"
    assert marker.read_text() == "done"


@pytest.mark.parametrize("status, code", [(None, 0), (0, 0), (2, 2), ("Stopped: no input.", 1)])
def test_exit_codes_are_those_of_sys_exit(status, code, capsys):
    assert entry.exit_code(status) == code
    assert capsys.readouterr().err == ("Stopped: no input.\n" if isinstance(status, str) else "")


def test_ask_ends_through_exit_now_and_other_commands_do_not(monkeypatch, capsys):
    ended: list[object] = []
    monkeypatch.setattr(entry, "exit_now", ended.append)  # records the status instead of ending pytest
    handler = signal.getsignal(signal.SIGINT)  # main() ignores Ctrl-C once the command is over
    try:
        for argv, through_exit_now in ((["ask", "What is 6 * 7?"], [0]), (["collections"], [])):
            ended.clear()
            monkeypatch.setattr(sys, "argv", ["orchestrator", *argv])
            with pytest.raises(SystemExit) as stopped:  # reached only because exit_now is stubbed for ask
                entry.main()
            assert stopped.value.code in (0, None) and ended == through_exit_now
    finally:
        signal.signal(signal.SIGINT, handler)
    assert "42" in capsys.readouterr().out

"""`ask` answers a plain expression without the app's heavy parts, and exactly as the app would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import Settings, build_app
from orchestrator.quick import plain_math_answer

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("langchain", "langchain_core", "langchain_community", "langchain_chroma", "chromadb", "llama_cpp")

# Runs the CLI in this interpreter and, at exit, writes which top-level packages were imported.
HOOK = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted({m.split(".")[0] for m in sys.modules}))))
sys.argv = ["orchestrator", *sys.argv[2:]]
runpy.run_module("orchestrator", run_name="__main__")
"""


def run_cli(tmp_path, *args):
    modules = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ORCH_MODEL": "no-such-model-so-resolving-it-would-fail"}
    done = subprocess.run(
        [sys.executable, "-c", HOOK, str(modules), *args], capture_output=True, text=True, env=env, timeout=60
    )
    return done, set(json.loads(modules.read_text()))


@pytest.mark.parametrize("question", ["What is 40366/439?", "/math 2**10"])
def test_plain_math_ask_imports_no_model_langchain_or_chroma(tmp_path, question):
    done, imported = run_cli(tmp_path, "ask", question)
    assert done.returncode == 0, done.stderr
    assert imported.isdisjoint(HEAVY), imported & set(HEAVY)
    assert "sympy" not in imported  # SymPy runs in the worker process
    assert not (Path(os.environ["ORCH_DATA_DIR"]) / "models").exists()  # nothing resolved or pulled


def test_a_question_for_the_model_still_goes_through_the_app(tmp_path):
    done, imported = run_cli(tmp_path, "ask", "Hi")
    assert done.returncode == 1 and "no-such-model" in done.stderr  # it tried to resolve the chat model
    assert "langchain_core" in imported


@pytest.mark.parametrize(
    "question", ["What is 40366/439?", "/math 1/0", "/math 2**10", "what is 7 * 6, rounded to 2 decimals"]
)
def test_quick_answer_is_the_apps_answer(tmp_path, question):
    settings = Settings(data_dir=tmp_path)
    quick = plain_math_answer(question, None, lambda: settings)
    full = build_app(settings).invoke({"question": question})
    assert quick is not None
    skip = {"latency_s"}
    assert _without_timing(quick.to_row(), skip) == _without_timing(full.to_row(), skip)


def test_forced_route_and_word_problems(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert (
        plain_math_answer("2+2", "math", lambda: settings).route_reason["reason"]
        == "explicit route: chosen by the caller"
    )  # as the app says it
    assert plain_math_answer("2+2", "chat", lambda: settings) is None  # another route was asked for
    assert plain_math_answer("/web 2+2", None, lambda: settings) is None
    assert plain_math_answer("Hi", None, lambda: settings) is None
    assert plain_math_answer("   ", None, lambda: settings) is None


def _without_timing(row: dict, skip: set) -> dict:
    row = {k: v for k, v in row.items() if k not in skip}
    for call in row.get("tool_calls", []):
        call.get("output", {}).pop("latency_s", None)
    return row

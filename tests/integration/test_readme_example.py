"""The README's Python example runs as written, against the real default model."""

import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), re.S)


def test_readme_python_example_runs(model_env, capsys):
    blocks = readme_python_blocks()
    assert blocks, "the README has no Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "math | 40366/439 = 91.9498861047836 (exact: 40366/439)" in printed
    assert "tokens" in printed
    rows = namespace["rows"]
    assert (
        rows[0]["answer"].startswith("2**100 = 1267650600228229401496703205376")
        or "1267650600228229401496703205376" in rows[0]["answer"]
    )
    assert "372" in rows[1]["answer"]


def test_readme_knowledge_swap_trace_and_concurrency_example_runs(model_env, capsys):
    namespace: dict = {}
    exec(compile(readme_python_blocks()[1], "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert "Broncos" in printed[0]
    assert "Ada Lovelace" in printed[1]
    assert "Guterres" in printed[2]
    assert printed[3] == "greeting ['llm']"
    assert printed[4] == "['math', 'math', 'chat']"
    assert [a.error for a in namespace["answers"]] == [None, None, None]

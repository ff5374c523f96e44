"""Hostile input for the math tool: nothing may run, import, write a file or compute for long.

The payloads are live: `test_payloads_are_live_when_evaluated` shows that Python's `eval` of the
same strings does create the canary file, so the checks below would fail if the tool evaluated them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.math_equivalence import equivalent
from orchestrator.tools import math as math_tool
from orchestrator.tools.math import detect_math, solve, warm_up

TIMEOUT_S = 2.0
SLACK_S = 1.0
# Modules no ordinary run of the math tool imports; the payloads try to import them.
FORBIDDEN_MODULES = ("tabnanny", "this", "pty", "ftplib", "webbrowser")


def hostile_payloads(canary: Path) -> list[str]:
    """At least 30 attack strings; the ones that would touch the file system aim at `canary`."""
    c = str(canary)
    return [
        f"__import__('os').system('touch {c}')",
        f'__import__("os").system("touch {c}")',
        "__import__('tabnanny')",
        "__import__('this')",
        "import pty",
        f"exec(\"open('{c}', 'w').write('x')\")",
        f"open('{c}', 'w').write('x')",
        "eval('1+1')",
        "().__class__.__bases__[0].__subclasses__()",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        "x.__class__.__mro__",
        "sin.__globals__",
        "getattr(x, '__class__')",
        "(lambda: __import__('ftplib'))()",
        "lambda x: x",
        "globals()",
        "locals()['x']",
        "vars()",
        "breakpoint()",
        "compile('1', '', 'eval')",
        "Symbol('x')",
        "sympify('x')",
        "__builtins__",
        "x if 1 else 2",
        "x[0]",
        "{1: 2}",
        "f'{1}'",
        "b'abc'",
        "1; __import__('pty')",
        "1\n__import__('pty')",
        "x.real",
        "1 .real",
        "＿＿import＿＿('os')",  # fullwidth low lines: NFKC turns them into "__import__"
        "ｅｖａｌ('1')",  # fullwidth letters: Python's parser would read them as "eval"
        "ехр(1)",  # Cyrillic homoglyphs of "exp"
        "sin\u200b(x)",  # zero-width space
        "1+1\u202e",  # right-to-left override
        "9**9**9**9",
        "factorial(10**9)",
        "10**10**10",
        "2**2**2**2**2**2",
        "(10**400)**(10**400)",
        "gamma(10**9)",
        "binomial(10**9, 5*10**8)",
        "0.5**(10**9)",
        "9**-9**9**9",
        "Matrix.ones(10**5, 10**5)",
        "ones(10**5, 10**5)",
        "eye(10**6)",
        "det(ones(10**4, 10**4))",
        "Matrix([[1, 1], [1, 0]])**(10**9)",
        "Matrix([[x] * 10**6])",
        "1e99999999",
        "1e-99999999",
        "1" * 400 + "!",
        "2" + "!" * 100,
        "(" * 300 + "1" + ")" * 300,
        "1+" * 300 + "1",
        "x" * 600,
        "webbrowser.open('http://127.0.0.1')",
    ]


PAYLOAD_COUNT = len(hostile_payloads(Path("canary")))


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("canary") / "pwned"


@pytest.fixture(scope="module", autouse=True)
def warm_worker():
    warm_up()
    solve("1+1")
    equivalent("2", "2")
    yield


def test_corpus_is_large_enough(canary: Path) -> None:
    assert len(hostile_payloads(canary)) >= 30


def test_payloads_are_live_when_evaluated(tmp_path: Path) -> None:
    """Control: plain `eval` of the file-writing payloads does create the canary, so the check can fail."""
    live_canary = tmp_path / "live"
    payloads = [p for p in hostile_payloads(live_canary) if str(live_canary) in p]
    for payload in payloads:
        live_canary.unlink(missing_ok=True)
        code = "import sys; exec(sys.argv[1]) if sys.argv[1].startswith('exec') else eval(sys.argv[1])"
        subprocess.run([sys.executable, "-c", code, payload], cwd=tmp_path, capture_output=True, timeout=30)
        assert live_canary.exists(), payload


@pytest.mark.parametrize("index", range(PAYLOAD_COUNT))
def test_hostile_input_is_refused_quickly_and_harmlessly(
    index: int, canary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = hostile_payloads(canary)[index]
    monkeypatch.chdir(tmp_path)
    modules_before = set(sys.modules)
    for question in (
        f"/math {payload}",
        payload,
        f"What is {payload}?",
        f"integrate {payload} dx",
        f"solve {payload} = 0",
    ):
        started = time.monotonic()
        result = solve(question, timeout_s=TIMEOUT_S)
        elapsed = time.monotonic() - started
        assert elapsed < TIMEOUT_S + SLACK_S, (question, elapsed)
        # An error, or a harmless symbolic value (e.g. 'x if 1 else 2' is never a value here).
        assert result.error is not None or "__" not in result.answer, (question, result)
        assert "Traceback" not in (result.error or "")
    started = time.monotonic()
    assert equivalent(payload, "2") is False
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    detect_math(payload)
    assert not canary.exists(), payload
    assert os.listdir(tmp_path) == [], payload
    assert set(sys.modules) - modules_before == set(), payload
    assert not any(name in sys.modules for name in FORBIDDEN_MODULES)


@pytest.mark.parametrize(
    "payload",
    [
        "9**9**9**9",
        "factorial(10**9)",
        "10**10**10",
        "gamma(10**9)",
        "(10**400)**(10**400)",
        "ones(10**5, 10**5)",
        "eye(10**6)",
        "zeros(10**4, 10**4)",
        "Matrix([[1, 1], [1, 0]])**(10**9)",
    ],
)
def test_huge_numbers_say_too_large(payload: str) -> None:
    result = solve(f"/math {payload}")
    assert result.error is not None and "too large to compute" in result.error


def test_computation_past_the_time_limit_is_killed_and_the_worker_recovers() -> None:
    """`(x+1)**100000` expanded passes every cheap check; only the hard timeout stops it."""
    worker = math_tool._worker()
    started = time.monotonic()
    result = solve("expand (x+1)**100000", timeout_s=1.0)
    elapsed = time.monotonic() - started
    assert result.error == "(x + 1)**100000 is too large to compute within 1 s"
    assert elapsed < 1.0 + SLACK_S
    assert worker.pid is None  # killed
    assert solve("What is 6 times 7?").answer == "6*7 = 42"


def test_rejection_messages_say_what_is_wrong() -> None:
    assert solve("/math __import__('os')").error == (
        'I could not parse "__import__(\'os\')": the character "\'" is not allowed'
    )
    assert solve("/math __import__").error == "I could not parse '__import__': names like __import__ are not allowed"
    assert solve("/math x.real").error == "I could not parse 'x.real': the character '.' is not allowed"
    assert "longer than 500 characters" in (solve("/math " + "1+" * 300 + "1").error or "")
    assert solve("/math system(3)").error == "I could not parse 'system(3)': the function system() is not allowed"

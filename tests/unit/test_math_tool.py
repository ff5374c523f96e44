"""The math tool: phrasings, exact answers, detection, equivalence, the worker's lifecycle, LangChain tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from orchestrator.math_equivalence import equivalent
from orchestrator.tools import math as math_module
from orchestrator.tools.math import (
    MathProblem,
    build_math_tool,
    detect_math,
    shutdown_worker,
    solve,
    solve_word_problem,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def process_alive(pid: int | str) -> bool:
    """True while a process runs; a zombie (exited, not yet reaped by init) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


@pytest.mark.parametrize(
    ("question", "kind", "answer"),
    [
        ("What is 852 divided by 4?", "arithmetic", "852/4 = 213"),
        ("What is 822 times 639?", "arithmetic", "822*639 = 525258"),
        ("What is 98300 plus 54555?", "arithmetic", "98300 + 54555 = 152855"),
        ("What is 1297 minus 7683?", "arithmetic", "1297 - 7683 = -6386"),
        ("What is 15% of 2480?", "percent", "15% of 2480 = 372"),
        ("What is the square root of 2025?", "root", "sqrt(2025) = 45"),
        ("What is the cube root of 27?", "root", "root(27, 3) = 3"),
        ("What is 7 factorial?", "factorial", "factorial(7) = 5040"),
        ("What is 7!?", "factorial", "factorial(7) = 5040"),
        ("What is 2**100?", "arithmetic", "2**100 = 1267650600228229401496703205376"),
        ("2^10", "arithmetic", "2**10 = 1024"),
        ("What is 2 to the power of 10?", "arithmetic", "2**10 = 1024"),
        ("What is 0.1 + 0.2?", "arithmetic", "0.1 + 0.2 = 0.3 (exact: 3/10)"),
        ("Solve x**2 - 7*x + 10 = 0 for x.", "solve", "x = 2 or x = 5"),
        ("Solve for x: 2x + 3 = 7", "solve", "x = 2"),
        ("What is x if 2x + 3 = 7?", "solve", "x = 2"),
        ("Solve x + y = 10, x - y = 2", "system", "x = 6, y = 4"),
        ("solve the system x+y=10 and x-y=2 for x and y", "system", "x = 6, y = 4"),
        ("derivative of x^3 sin(x)", "derivative", "d/dx (x**3*sin(x)) = x**3*cos(x) + 3*x**2*sin(x)"),
        (
            "Differentiate x**2 * cos(x) with respect to x",
            "derivative",
            "d/dx (x**2*cos(x)) = -x**2*sin(x) + 2*x*cos(x)",
        ),
        ("second derivative of x^4", "derivative", "d^2/dx^2 (x**4) = 12*x**2"),
        ("d/dx x^2", "derivative", "d/dx (x**2) = 2*x"),
        ("integrate x*exp(x)", "integral", "∫ x*exp(x) dx = (x - 1)*exp(x) + C"),
        ("Integrate x*cos(x) with respect to x.", "integral", "∫ x*cos(x) dx = x*sin(x) + cos(x) + C"),
        ("integrate x^2 from 0 to 3", "integral", "∫_0^3 x**2 dx = 9"),
        ("integral of x^2 dx from 0 to 3", "integral", "∫_0^3 x**2 dx = 9"),
        ("limit of sin(x)/x as x approaches 0", "limit", "lim_{x→0} sin(x)/x = 1"),
        ("limit as x approaches 0 of sin(x)/x", "limit", "lim_{x→0} sin(x)/x = 1"),
        ("limit of 1/x as x approaches 0 from the right", "limit", "lim_{x→0+} 1/x = oo"),
        ("Simplify (x**2 - 1)/(x - 1).", "simplify", "(x**2 - 1)/(x - 1) simplifies to x + 1"),
        ("factor x^2-1", "factor", "x**2 - 1 factors as (x - 1)*(x + 1)"),
        ("prime factorization of 360", "factor", "360 = 2**3 * 3**2 * 5"),
        ("/math 3(4+5)", "arithmetic", "3*(4 + 5) = 27"),
        ("What's 5 x 3?", "arithmetic", "5*3 = 15"),
        ("Can you tell me what 17 * 23 is?", "arithmetic", "17*23 = 391"),
        ("What is 1,000 + 2,000?", "arithmetic", "1000 + 2000 = 3000"),
        ("What is the sum of 3 and 4?", "arithmetic", "3 + 4 = 7"),
        ("what is 10 mod 3", "arithmetic", "10%3 = 1"),
        ("What is 3 to the 4th power?", "arithmetic", "3**4 = 81"),
        ("what's 9 squared", "arithmetic", "9**2 = 81"),
        ("What is 12.5% of 80?", "percent", "12.5% of 80 = 10"),
        ("Compute the integral of sin(x) from 0 to pi", "integral", "∫_0^pi sin(x) dx = 2"),
        ("Find the roots of x^2 - 4", "solve", "x = -2 or x = 2"),
        ("Differentiate x^2 + 3x with respect to x", "derivative", "d/dx (x**2 + 3*x) = 2*x + 3"),
        (
            "what is the limit of (1 + 1/n)^n as n approaches infinity",
            "limit",
            "lim_{n→oo} (1 + 1/n)**n = 2.71828182845905 (exact: E)",
        ),
        ("Expand (x + 1)^3", "expand", "(x + 1)**3 expands to x**3 + 3*x**2 + 3*x + 1"),
        ("What is sqrt 2?", "root", "sqrt(2) = 1.4142135623731 (exact: sqrt(2))"),
        ("/math 1e-400 * 10**400", "evaluate", "1e-400*10**400 = 1"),
        ("What is det(Matrix([[1,2],[3,4]]))?", "evaluate", "det(Matrix([[1, 2], [3, 4]])) = -2"),
        (
            "/math inverse(Matrix([[1,2],[3,4]]))",
            "evaluate",
            "inverse(Matrix([[1, 2], [3, 4]])) = Matrix([[-2, 1], [3/2, -1/2]])",
        ),
        ("/math 2xy + xy", "evaluate", "2*x*y + x*y = 3*x*y"),
    ],
)
def test_phrasings_give_exact_answers(question: str, kind: str, answer: str) -> None:
    problem = detect_math(question)
    assert problem is not None and problem.kind == kind
    result = solve(problem)
    assert result.error is None
    assert result.answer == answer


def test_seed_division_has_exact_and_decimal_forms() -> None:
    result = solve("What is 40366 / 439?")
    assert result.expression == "40366/439"
    assert result.exact == "40366/439"
    assert result.decimal is not None and result.decimal.startswith("91.94988")
    assert result.answer == "40366/439 = 91.9498861047836 (exact: 40366/439)"


def test_integer_results_have_no_decimal() -> None:
    result = solve("What is 852 divided by 4?")
    assert (result.exact, result.decimal) == ("213", None)


def test_detection_records_structure_and_reason() -> None:
    problem = detect_math("integrate x^2 from 0 to 3")
    assert problem is not None
    assert (problem.expressions, problem.lower, problem.upper) == (["x**2"], "0", "3")
    assert problem.reason and 0 < problem.confidence <= 1
    limit = detect_math("limit of sin(x)/x as x approaches 0")
    assert limit is not None and (limit.variables, limit.point) == (["x"], "0")


@pytest.mark.parametrize(
    "question",
    [
        "What is a Martian Dunetree?",
        "Who won Super Bowl 50?",
        "Write a haiku",
        "What year did Tesla die?",
        "How many plays has the playwright published?",
        "What is a 401-k?",
        "What is COVID-19?",
        "What happened in 1914-1918?",
        "How do I integrate Slack with Teams?",
        "Solve this riddle for me",
        "What is the limit of my credit card?",
        "Who is the British Prime Minister?",
        "What is Web 2.0?",
        "What is 7-Eleven?",
        "What is 3M?",
        "What is gamma ray?",
        "When was the iPhone 15 released?",
        "Is 17 a prime number?",
        "/mathematics is fun",
        "Tell me a joke about cats",
        "",
    ],
)
def test_non_math_questions_are_not_detected(question: str) -> None:
    assert detect_math(question) is None


def test_detection_needs_no_worker() -> None:
    shutdown_worker()
    assert detect_math("What is 822 times 639?") is not None
    assert math_module._default_worker is None


def test_math_prefix_forces_math_and_explains_rejections() -> None:
    problem = detect_math("/math hello world")
    assert problem is not None and problem.confidence == 1.0
    assert solve(problem).error == (
        "I could not parse 'hello world': the name 'hello' is not allowed (use single-letter variables)"
    )


def test_solution_that_is_not_a_number_is_reported() -> None:
    assert solve("/math 1/0").answer == "1/0 is undefined (division by zero or an indeterminate form)"
    assert solve("Solve x**2 + 1 = 0").answer == "x = -I or x = I"
    assert solve("Solve x = x + 1").answer == "x = x + 1 has no solution"
    assert solve("Solve 2*x = x + x").answer == "2*x = x + x holds for every x"
    assert solve("sqrt(-4)").answer == "sqrt(-4) = 2*I"


def test_equations_without_a_finite_closed_form() -> None:
    periodic = solve("solve sin(x) = 0")
    assert periodic.answer.startswith("x = 0 or x = pi (≈ 3.14159265358979) (principal solutions; all solutions: x ∈ ")
    assert equivalent(periodic.answer, ["0", "pi"])
    quintic = solve("solve x^5 - x + 1 = 0")
    assert quintic.answer.startswith("x ≈ -1.16730397826142 or x ≈ -0.181232444469875 - 1.08395410131771*I")
    assert quintic.answer.endswith("(numerical; no closed form)")


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("40366/439 = 91.9498861047836 (exact: 40366/439)", "40366/439", True),
        ("40366/439 = 91.9498861047836 (exact: 40366/439)", "91.9498861047836", True),
        ("40366/439 = 91.9498861047836 (exact: 40366/439)", "91.95", False),
        ("822*639 = 525258", "525258", True),
        ("822*639 = 525258", "525259", False),
        ("∫ x*exp(x) dx = (x - 1)*exp(x) + C", "x*exp(x) - exp(x)", True),
        ("(x - 1)*exp(x)", "x*exp(x) - exp(x)", True),
        ("(x - 1)*exp(x)", "x*exp(x)", False),
        ("d/dx (x**3*sin(x)) = x**3*cos(x) + 3*x**2*sin(x)", "3*x**2*sin(x) + x**3*cos(x)", True),
        ("(x**2 - 1)/(x - 1) simplifies to x + 1", "x + 1", True),
        ("x = 2 or x = 3", ["2", "3"], True),
        ("x = 2 or x = 3", "2", False),
        ("x = 2", ["2", "3"], True),
        ("x = 2 or x = 4", ["2", "3"], False),
        ("1297 - 7683 = -6386", "-6386", True),
        ("sqrt(1764) = 42", "42", True),
        ("The answer is 42.", "42", True),
        ("The answer is 43.", "42", False),
        ("It is about 42 or 43.", "42", False),
        ("I could not parse 'x.y': the character '.' is not allowed", "2", False),
    ],
)
def test_equivalent(answer: str, gold: str | list[str], expected: bool) -> None:
    assert equivalent(answer, gold) is expected


def test_word_problem_translation_is_checked_and_shown() -> None:
    result = solve_word_problem(
        "A farmer has 12 rows of 35 apple trees. How many trees?", lambda question: "```\n12*35\n```"
    )
    assert (result.expression, result.answer) == ("12*35", "12*35 = 420")


def test_word_problem_translation_cannot_escape_the_allow_list(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    result = solve_word_problem("anything", lambda question: f"__import__('os').system('touch {canary}')")
    assert result.error is not None and result.error.startswith("The expression produced for this word problem")
    assert not canary.exists()


def test_hand_built_problem_is_rechecked() -> None:
    problem = MathProblem(kind="evaluate", expressions=["x.__class__"])
    assert solve(problem).error == "I could not parse 'x.__class__': the character '.' is not allowed"


def test_solve_from_threads() -> None:
    questions = [f"What is {n} times {n + 1}?" for n in range(12)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda q: solve(q).answer, questions))
    assert answers == [f"{n}*{n + 1} = {n * (n + 1)}" for n in range(12)]


def test_worker_restarts_lazily_after_shutdown() -> None:
    assert solve("2^10").exact == "1024"
    first_pid = math_module._worker().pid
    shutdown_worker()
    assert solve("2^11").exact == "2048"
    assert math_module._worker().pid not in (None, first_pid)


def test_worker_exits_with_the_interpreter(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from orchestrator.tools import math
        print(math.solve("2+2").answer)
        print(math._worker().pid, flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    answer, pid = done.stdout.split("\n")[:2]
    assert answer == "2 + 2 = 4"
    deadline = time.monotonic() + 5
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(pid)


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads Linux /proc")
def test_worker_runs_under_a_memory_limit() -> None:
    solve("1+1")
    limits = Path(f"/proc/{math_module._worker().pid}/limits").read_text()
    line = next(row for row in limits.splitlines() if row.startswith("Max address space"))
    assert line.split()[3] == str(math_module.WORKER_MEMORY_BYTES)


def test_worker_killed_from_outside_is_replaced() -> None:
    solve("1+1")
    os.kill(math_module._worker().pid, 9)
    time.sleep(0.1)
    assert solve("What is 6 times 7?").answer == "6*7 = 42"


def test_memory_exhaustion_in_the_worker_reads_as_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.tools import math_worker

    def exhaust(problem: dict) -> dict:
        raise MemoryError

    monkeypatch.setattr(math_worker, "solve_problem", exhaust)
    response = math_worker.handle_request({"op": "solve", "problem": {}})
    assert response == {"ok": False, "kind": "too_large", "error": "it needs more memory than the math worker may use"}


def test_worker_exits_when_its_parent_is_killed_mid_computation(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from orchestrator.tools import math
        math.solve("1+1")
        print(math._worker().pid, flush=True)
        math.solve("expand (x+1)**100000", timeout_s=600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert parent.stdout is not None
    worker_pid = int(parent.stdout.readline())
    time.sleep(0.5)
    assert process_alive(worker_pid)  # busy expanding
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while process_alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(worker_pid)


def test_plain_expressions_are_fast_after_warm_up() -> None:
    solve("1+1")
    started = time.monotonic()
    for n in range(20):
        solve(f"What is {n + 1000} divided by 7?")
    assert (time.monotonic() - started) / 20 < 0.1


class TestMathToolStandard(ToolsUnitTests):
    @property
    def tool_constructor(self):
        return build_math_tool()

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"question": "What is 40366 / 439?"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# The suite's async tests carry no marker (LangChain packages set asyncio_mode = "auto"); the anyio
# marker runs them here without a project-wide setting, and unlike pytest-asyncio's it ignores sync tests.
@pytest.mark.anyio
class TestMathToolStandardInvoke(ToolsIntegrationTests):
    """Runs locally (no network): the tool only talks to its SymPy worker."""

    @property
    def tool_constructor(self):
        return build_math_tool()

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"question": "What is 40366 / 439?"}


def test_tool_output_is_the_composed_answer() -> None:
    tool = build_math_tool()
    assert tool.invoke({"question": "What is 40366 / 439?"}) == "40366/439 = 91.9498861047836 (exact: 40366/439)"
    assert tool.invoke({"question": "/math __import__"}).startswith("Error: I could not parse")


def test_math_tool_attribute_is_a_langchain_tool() -> None:
    from langchain_core.tools import BaseTool

    assert isinstance(math_module.math_tool, BaseTool)
    assert math_module.math_tool.name == "math"

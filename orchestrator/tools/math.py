"""Safe SymPy math tool: recognise math questions and evaluate them in a sandboxed worker.

- `detect_math(question)` (`math_detect.py`, re-exported here) is rule-based and cheap (regular
  expressions plus the allow-list parser of `math_worker`, no SymPy, no subprocess), so the router can
  call it on every question.
- `solve(problem)` evaluates in a persistent worker process (`math_worker.py`, SymPy imported once,
  address space capped with RLIMIT_AS) under a hard timeout; on timeout the worker is killed and a
  new one is started on the next call. The answer sentence is composed only from SymPy's result.
- `worker_request(message)` talks to the same worker (orchestrator/math_equivalence.py scores eval answers with it).
- `build_math_tool()` / `math_tool` is the same as a LangChain tool.

Security: user text never reaches `eval`/`sympify`; see the `math_worker` docstring (CVE-2023-29374).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from orchestrator.errors import OrchestratorError
from orchestrator.tools.math_detect import MathKind, MathProblem, detect_math
from orchestrator.tools.math_worker import (
    SYMBOLS,
    WORKER_MEMORY_BYTES,
    UnsafeExpressionError,
    check_expression,
)

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = [
    "MathKind",
    "MathProblem",
    "MathResult",
    "MathToolError",
    "SympyWorker",
    "build_math_tool",
    "detect_math",
    "shutdown_worker",
    "solve",
    "solve_word_problem",
    "warm_up",
    "warm_up_in_background",
    "worker_request",
]

DEFAULT_TIMEOUT_S = 2.0
WORKER_STARTUP_TIMEOUT_S = 60.0


class MathToolError(OrchestratorError):
    """The math worker process could not be started."""


class MathResult(BaseModel):
    """SymPy's answer; `answer` is composed from SymPy's output only."""

    kind: str = "evaluate"
    expression: str = ""
    exact: str | None = None
    decimal: str | None = None
    answer: str = ""
    error: str | None = None
    latency_s: float = 0.0
    translated_by: str | None = None  # a word problem: "template" or "llm"
    refused: bool = False  # a model's expression that did more than rearrange the question (see word_problems.py)

    @property
    def ok(self) -> bool:
        return self.error is None


# ---------------------------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------------------------


class SympyWorker:
    """A persistent SymPy process spoken to with JSON lines; killed and restarted on timeout.

    A plain subprocess (rather than multiprocessing) because it works the same from any thread and any
    start method, never re-imports the caller's __main__, and runs with `python -I` (no cwd on sys.path).
    Thread-safe: one request at a time.
    """

    def __init__(
        self, memory_bytes: int = WORKER_MEMORY_BYTES, startup_timeout_s: float = WORKER_STARTUP_TIMEOUT_S
    ) -> None:
        self.memory_bytes = memory_bytes
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()
        self._buffer = b""
        self._lock = threading.Lock()
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        script = Path(__file__).with_name("math_worker.py")
        command = [sys.executable, "-I", str(script), str(self.memory_bytes)]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=tempfile.gettempdir(),
                bufsize=0,
                start_new_session=True,
            )
        except OSError as exc:
            raise MathToolError(f"Could not start the math worker ({exc}); check that {sys.executable} runs.") from exc
        self._buffer = b""
        self._owner_pid = os.getpid()
        ready = self._read_line(time.monotonic() + self.startup_timeout_s)
        if ready is None or not json.loads(ready).get("ready"):
            self._kill()
            raise MathToolError(
                f"The math worker did not start within {self.startup_timeout_s:g} s; "
                "check that sympy is installed in this Python environment (pip install sympy)."
            )

    def _ensure_started(self) -> None:
        if self._owner_pid != os.getpid():  # inherited through fork: the pipes belong to the parent
            self._process, self._buffer = None, b""
        if self._process is None or self._process.poll() is not None:
            if self._process is not None:
                self.restarts += 1
            self._start()

    def _read_line(self, deadline: float) -> bytes | None:
        """One response line, or None when the deadline passes or the worker died."""
        assert self._process is not None and self._process.stdout is not None
        stream = self._process.stdout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([stream], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(stream.fileno(), 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._process, self._buffer = None, b""

    def request(self, payload: dict, timeout_s: float) -> dict | None:
        """Send one request; None means it did not finish in time (the worker was killed)."""
        check_timeout(timeout_s)
        with self._lock:
            self._ensure_started()
            assert self._process is not None and self._process.stdin is not None
            try:
                self._process.stdin.write(json.dumps(payload).encode() + b"\n")
            except BrokenPipeError:
                self._kill()
                self._ensure_started()
                self._process.stdin.write(json.dumps(payload).encode() + b"\n")
            line = self._read_line(time.monotonic() + timeout_s)
            if line is None:
                died = self._process.poll() is not None  # e.g. killed by the kernel at the memory limit
                self._kill()
                if died:
                    return {"ok": False, "kind": "too_large", "error": "the math worker ran out of memory"}
                return None
            return json.loads(line)

    def close(self) -> None:
        """Stop the worker: close its stdin (it exits at EOF), then kill it if it lingers."""
        with self._lock:
            process = self._process
            if process is None:
                return
            if self._owner_pid == os.getpid():
                try:
                    if process.stdin is not None:
                        process.stdin.close()
                    process.wait(timeout=1.0)
                except (OSError, subprocess.TimeoutExpired):
                    pass
                self._kill()
            self._process = None


_default_worker: SympyWorker | None = None
_default_worker_lock = threading.Lock()
_exit_hook_registered = False


def _worker() -> SympyWorker:
    global _default_worker, _exit_hook_registered
    with _default_worker_lock:
        if _default_worker is None:
            _default_worker = SympyWorker()
            if not _exit_hook_registered:
                atexit.register(shutdown_worker)
                _exit_hook_registered = True
        return _default_worker


def shutdown_worker() -> None:
    """Stop the shared math worker (also registered with atexit)."""
    global _default_worker
    with _default_worker_lock:
        worker, _default_worker = _default_worker, None
    if worker is not None:
        worker.close()


def check_timeout(timeout_s: float) -> None:
    """A ConfigError for a time limit the clock cannot wait for (inf, nan, zero, negative, past MAX_TIMEOUT_S)."""
    from orchestrator.config import MAX_TIMEOUT_S
    from orchestrator.errors import ConfigError

    if not 0 < timeout_s <= MAX_TIMEOUT_S:  # False for nan too
        raise ConfigError(
            f"The math time limit must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g} "
            f"(got {timeout_s!r}); set ORCH_MATH_TIMEOUT_S to e.g. 2."
        )


def worker_request(message: dict[str, Any], timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any] | None:
    """Send one request to the shared SymPy worker (see math_worker.handle); None when it timed out or failed."""
    return _worker().request(message, timeout_s)


def warm_up() -> None:
    """Start the shared worker and import SymPy in it now, so the first question is fast."""
    _worker().request({"op": "ping"}, timeout_s=WORKER_STARTUP_TIMEOUT_S)


def warm_up_in_background() -> None:
    """warm_up() on a daemon thread: SymPy imports in the worker while this process does other work."""
    threading.Thread(target=warm_up, name="math-warm-up", daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------------------------


def _recheck(problem: MathProblem) -> None:
    """Run every expression of a problem (which may have been built by hand) through the allow-list."""
    for text in problem.expressions:
        for side in text.split("=") if problem.kind in ("solve", "system") else [text]:
            if side.strip() or problem.kind not in ("solve", "system"):
                check_expression(side)
    for bound in (problem.lower, problem.upper, problem.point):
        if bound is not None:
            check_expression(bound)
    for variable in problem.variables:
        if variable not in SYMBOLS:
            raise UnsafeExpressionError(f"{variable!r} is not a variable name")


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rounded_answer(shown: str, result: dict[str, Any], decimals: int | None) -> str | None:
    """'22/7 ≈ 3.143 (to 3 decimal places; exact: 22/7)', or None when there is no single number to round."""
    if decimals is None:
        return None
    try:
        value = Decimal(str(result.get("decimal") or result.get("exact")))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    rounded = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    places = "the nearest whole number" if decimals == 0 else f"{decimals} decimal place{'s' if decimals != 1 else ''}"
    return f"{shown} ≈ {rounded} (to {places}; exact: {result.get('exact')})"


def solve(problem: MathProblem | str, timeout_s: float = DEFAULT_TIMEOUT_S) -> MathResult:
    """Evaluate a problem (or a question/expression string) with SymPy under a hard time limit."""
    started = time.monotonic()
    if isinstance(problem, str):
        problem = detect_math(problem) or detect_math(f"/math {problem}")  # type: ignore[assignment]
    assert isinstance(problem, MathProblem)
    shown = _shorten(problem.display or ", ".join(problem.expressions))

    def finish(**fields: Any) -> MathResult:
        if fields.get("error") and not fields.get("answer"):
            fields["answer"] = fields["error"]
        return MathResult(kind=problem.kind, expression=shown, latency_s=time.monotonic() - started, **fields)

    try:
        _recheck(problem)
    except UnsafeExpressionError as exc:
        return finish(error=f"I could not parse {shown!r}: {exc}")
    response = _worker().request({"op": "solve", "problem": problem.model_dump()}, timeout_s)
    if response is None:
        return finish(error=f"{shown} is too large to compute within {timeout_s:g} s")
    if response.get("ok"):
        result = response["result"]
        answer = _rounded_answer(shown, result, problem.decimals) or result["answer"]
        return finish(exact=result["exact"], decimal=result["decimal"], answer=answer)
    kind, message = response.get("kind"), response.get("error", "unknown error")
    if kind == "too_large":
        return finish(error=f"{shown} is too large to compute: {message}")
    if kind == "rejected":
        return finish(error=f"I could not parse {shown!r}: {message}")
    return finish(error=f"SymPy could not compute {shown}: {message}")


_FENCE_RE = re.compile(r"^```\w*\s*|\s*```$")
_MODEL_RESULT_RE = re.compile(r"\s*=\s*-?[\d.,]+\s*$")
_EXPRESSION_LABEL_RE = re.compile(r"^(?:expression|answer|math)\s*:\s*", re.IGNORECASE)


def solve_word_problem(
    question: str, translate: Callable[[str], str], timeout_s: float = DEFAULT_TIMEOUT_S
) -> MathResult:
    """Solve a word problem: a template reads it (word_problems.py), else `translate` (an LLM prompt) writes an expression.

    A translated expression is accepted only when it rearranges what the question says (every number stated
    in the question, at most one operation per quantity); otherwise the result is `refused`, with the reason.
    Either way the expression goes through the same allow-list parser and is shown in `expression`.
    """
    from orchestrator.tools.word_problems import check_translation, solve_by_template

    templated = solve_by_template(question)
    if templated is not None:
        problem = detect_math(f"/math {templated}")
        assert problem is not None
        return solve(problem, timeout_s=timeout_s).model_copy(update={"translated_by": "template"})
    translated = _FENCE_RE.sub("", translate(question).strip()).strip()
    translated = _EXPRESSION_LABEL_RE.sub("", translated.splitlines()[0] if translated else "").strip()
    translated = _MODEL_RESULT_RE.sub("", translated)  # "12 + 3 = 45": SymPy computes, the model's "= 45" is dropped
    problem = detect_math(translated) or detect_math(f"/math {translated}")
    assert problem is not None
    try:
        _recheck(problem)
    except UnsafeExpressionError:
        refusal = None  # not an expression at all: solve() says it could not parse it
    else:
        refusal = check_translation(question, ", ".join(problem.expressions))
    if refusal is not None:
        message = (
            f"I could not turn this into a calculation I can check: the model's expression {translated} {refusal}. "
            "Write it as an expression (e.g. '40366 / 439') and I will compute it."
        )
        return MathResult(
            kind=problem.kind, expression=translated, error=message, answer=message, translated_by="llm", refused=True
        )
    result = solve(problem, timeout_s=timeout_s).model_copy(update={"translated_by": "llm"})
    if result.error and result.error.startswith("I could not parse"):
        message = f"The expression produced for this word problem was rejected. {result.error}"
        return result.model_copy(update={"error": message, "answer": message})
    return result


# ---------------------------------------------------------------------------------------------
# LangChain tool
# ---------------------------------------------------------------------------------------------


class MathToolInput(BaseModel):
    """Arguments of the math tool."""

    question: str = Field(
        description="A math question or expression, e.g. 'What is 40366 / 439?', 'integrate x*exp(x)', "
        "'solve x**2 - 5*x + 6 = 0'."
    )


def build_math_tool(timeout_s: float = DEFAULT_TIMEOUT_S) -> BaseTool:
    """The math tool as a LangChain StructuredTool (input: a question; output: SymPy's answer)."""
    from langchain_core.tools import StructuredTool, ToolException

    def run_math(question: str) -> str:
        result = solve(question, timeout_s=timeout_s)
        if not result.ok:
            # As the web tool does: an agent gets a ToolMessage with status "error" (handle_tool_error).
            raise ToolException(f"Error: {result.error}")
        return result.answer

    return StructuredTool.from_function(
        func=run_math,
        name="math",
        description="Exact math with SymPy: arithmetic, percentages, roots, factorials, simplify, factor, "
        "solve equations, derivatives, integrals and limits. Input: the question or expression.",
        args_schema=MathToolInput,
        handle_tool_error=True,
    )


_math_tool: BaseTool | None = None


def __getattr__(name: str) -> Any:
    """`math_tool` is built on first access, so importing this module does not import LangChain."""
    global _math_tool
    if name == "math_tool":
        if _math_tool is None:
            _math_tool = build_math_tool()
        return _math_tool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The safe expression language of the math tool, and the sandboxed SymPy process that evaluates it.

Why hand-written: `sympy.sympify` and `parse_expr` run Python's `eval` on the input, which is how
LangChain's LLMMathChain became CVE-2023-29374. Here no user text ever reaches `eval`:

1. `to_python_syntax` turns math notation into Python syntax with a small tokenizer of our own
   (implicit multiplication, `^`, `n!`, `sin x`); any character outside the allow-list is rejected.
2. `parse_checked` parses that text with `ast` and walks the tree against an allow-list of node
   types, names and functions (no attributes, subscripts, lambdas, strings, keywords, dunders).
3. In the worker process only, `build_sympy` turns the checked tree into SymPy objects node by node,
   refusing numbers too large to hold (huge powers and factorials) before computing them.

This module is also the worker's entry point (`python -I math_worker.py`); it imports nothing heavy
at module level, so `orchestrator.tools.math` can import the parser without loading SymPy.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import sys

MAX_INPUT_CHARS = 500
MAX_AST_NODES = 400
MAX_AST_DEPTH = 60
# Results beyond ~1.2 million decimal digits are refused before they are computed.
MAX_RESULT_BITS = 4_000_000
# Exact integers longer than this are shown by their size and a decimal approximation only.
MAX_EXACT_DIGITS = 3000
DECIMAL_DIGITS = 15
MAX_LITERAL_EXPONENT = 100_000  # 1e100000 is still exact; 1e99999999 would be a 100-million-digit integer
WORKER_MEMORY_BYTES = 1 << 30

# name -> (SymPy attribute, allowed argument counts)
FUNCTIONS: dict[str, tuple[str, tuple[int, ...]]] = {
    "sin": ("sin", (1,)),
    "cos": ("cos", (1,)),
    "tan": ("tan", (1,)),
    "cot": ("cot", (1,)),
    "sec": ("sec", (1,)),
    "csc": ("csc", (1,)),
    "asin": ("asin", (1,)),
    "acos": ("acos", (1,)),
    "atan": ("atan", (1,)),
    "atan2": ("atan2", (2,)),
    "arcsin": ("asin", (1,)),
    "arccos": ("acos", (1,)),
    "arctan": ("atan", (1,)),
    "sinh": ("sinh", (1,)),
    "cosh": ("cosh", (1,)),
    "tanh": ("tanh", (1,)),
    "asinh": ("asinh", (1,)),
    "acosh": ("acosh", (1,)),
    "atanh": ("atanh", (1,)),
    "exp": ("exp", (1,)),
    "log": ("log", (1, 2)),
    "ln": ("log", (1,)),
    "sqrt": ("sqrt", (1,)),
    "cbrt": ("cbrt", (1,)),
    "root": ("root", (2,)),
    "factorial": ("factorial", (1,)),
    "binomial": ("binomial", (2,)),
    "gamma": ("gamma", (1,)),
    "abs": ("Abs", (1,)),
    "Abs": ("Abs", (1,)),
    "sign": ("sign", (1,)),
    "floor": ("floor", (1,)),
    "ceiling": ("ceiling", (1,)),
    "ceil": ("ceiling", (1,)),
    "gcd": ("gcd", (2,)),
    "lcm": ("lcm", (2,)),
    "Min": ("Min", (2, 3)),
    "Max": ("Max", (2, 3)),
    "min": ("Min", (2, 3)),
    "max": ("Max", (2, 3)),
    "re": ("re", (1,)),
    "im": ("im", (1,)),
    "conjugate": ("conjugate", (1,)),
    # Matrices: a literal Matrix([[1, 2], [3, 4]]) and constructors whose size is checked first.
    "Matrix": ("Matrix", (1,)),
    "eye": ("eye", (1, 2)),
    "zeros": ("zeros", (1, 2)),
    "ones": ("ones", (1, 2)),
    "det": ("det", (1,)),
    "trace": ("trace", (1,)),
    "transpose": ("transpose", (1,)),
    "inverse": ("inverse", (1,)),
}
MATRIX_CONSTRUCTORS = frozenset({"eye", "zeros", "ones"})
MAX_MATRIX_ENTRIES = 10_000
MAX_MATRIX_POWER = 10_000
CONSTANTS: dict[str, str] = {
    "pi": "pi",
    "e": "E",
    "E": "E",
    "I": "I",
    "oo": "oo",
    "inf": "oo",
    "infinity": "oo",
}
GREEK_SYMBOLS = frozenset({"alpha", "beta", "theta", "phi", "omega", "tau", "mu", "sigma", "rho", "delta"})
# Every single letter is a symbol except the constants e, E and I.
SYMBOLS = frozenset([c for c in "abcdfghijklmnopqrstuvwxyz"] + [c for c in "ABCDFGHJKLMNOPQRSTUVWXYZ"]) | GREEK_SYMBOLS
# Unknown names made only of these letters are read as a product ("2xy" -> 2*x*y), as SymPy's
# split_symbols transformation does, but restricted so ordinary words are not split.
SPLITTABLE_LETTERS = frozenset("xyzabc")

_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod)
_ALLOWED_UNARYOPS = (ast.UAdd, ast.USub)

UNICODE_REPLACEMENTS = {
    "×": "*",
    "·": "*",
    "⋅": "*",
    "∗": "*",
    "÷": "/",
    "−": "-",
    "–": "-",
    "—": "-",
    "²": "^2",
    "³": "^3",
    "π": "pi",
    "∞": "oo",
    "√": "sqrt ",
}

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|//|[-+*/^%(),=!<>\[\]])
    """,
    re.VERBOSE,
)


class UnsafeExpressionError(ValueError):
    """The input is not an expression of the allowed math language; the message says why."""


class TooLargeError(ValueError):
    """The result would be too large to compute or hold."""


# ---------------------------------------------------------------------------------------------
# Text -> Python syntax
# ---------------------------------------------------------------------------------------------


def tokenize_math(text: str) -> list[tuple[str, str]]:
    """Split math text into (kind, text) tokens; any other character is an error."""
    if len(text) > MAX_INPUT_CHARS:
        raise UnsafeExpressionError(f"the expression is longer than {MAX_INPUT_CHARS} characters")
    for symbol, replacement in UNICODE_REPLACEMENTS.items():
        text = text.replace(symbol, replacement)
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise UnsafeExpressionError(f"the character {text[position]!r} is not allowed")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    if not tokens:
        raise UnsafeExpressionError("the expression is empty")
    return tokens


def _is_function(token: tuple[str, str]) -> bool:
    return token[0] == "name" and token[1] in FUNCTIONS


def _is_operand_end(token: tuple[str, str]) -> bool:
    return token[0] == "number" or (token[0] == "name" and not _is_function(token)) or token[1] == ")"


def _is_operand_start(token: tuple[str, str]) -> bool:
    return token[0] in ("number", "name") or token[1] == "("


def _split_names(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Read an unknown short name such as `xy` as the product of its letters."""
    out: list[tuple[str, str]] = []
    for kind, text in tokens:
        known = text in FUNCTIONS or text in CONSTANTS or text in SYMBOLS
        if kind == "name" and not known and 1 < len(text) <= 3 and set(text) <= SPLITTABLE_LETTERS:
            for index, letter in enumerate(text):
                if index:
                    out.append(("op", "*"))
                out.append(("name", letter))
        else:
            out.append((kind, text))
    return out


def _operand_start(tokens: list[tuple[str, str]], end: int) -> int:
    """Index where the operand ending at tokens[end] begins (a number, a name, a (group) or f(...))."""
    if tokens[end][1] != ")":
        return end
    depth = 0
    for index in range(end, -1, -1):
        if tokens[index][1] == ")":
            depth += 1
        elif tokens[index][1] == "(":
            depth -= 1
            if depth == 0:
                return index - 1 if index > 0 and _is_function(tokens[index - 1]) else index
    raise UnsafeExpressionError("the parentheses do not match")


def _apply_factorials(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Rewrite postfix `n!` as `factorial(n)`."""
    out: list[tuple[str, str]] = []
    for token in tokens:
        if token[1] != "!":
            out.append(token)
            continue
        if not out or not _is_operand_end(out[-1]):
            raise UnsafeExpressionError("'!' must follow a number, a name or a bracket")
        start = _operand_start(out, len(out) - 1)
        out[start:] = [("name", "factorial"), ("op", "(")] + out[start:] + [("op", ")")]
    return out


def _apply_bare_functions(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Rewrite `sin x` / `sqrt 2` (a function name followed by one atom) as `sin(x)`."""
    out: list[tuple[str, str]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if _is_function(token) and following is not None and following[0] in ("number", "name"):
            if _is_function(following):
                raise UnsafeExpressionError(f"write {token[1]}(...) with brackets")
            out += [token, ("op", "("), following, ("op", ")")]
            index += 2
            continue
        out.append(token)
        index += 1
    return out


def _insert_multiplications(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Insert the `*` that math notation leaves out: `2x`, `x(x+1)`, `(a)(b)`, `x^3 sin(x)`."""
    out: list[tuple[str, str]] = []
    for token in tokens:
        if out and _is_operand_end(out[-1]) and _is_operand_start(token):
            both_numbers = out[-1][0] == "number" and token[0] == "number"
            if both_numbers:
                raise UnsafeExpressionError(f"two numbers in a row ({out[-1][1]} {token[1]})")
            out.append(("op", "*"))
        out.append(token)
    return out


def _join(tokens: list[tuple[str, str]]) -> str:
    """Render tokens as Python syntax, with spaces around binary + and - for readability."""
    parts: list[str] = []
    for index, (_, text) in enumerate(tokens):
        binary = index > 0 and _is_operand_end(tokens[index - 1])
        if text in ("+", "-") and binary:
            parts.append(f" {text} ")
        elif text == ",":
            parts.append(", ")
        else:
            parts.append(text)
    return "".join(parts)


def to_python_syntax(text: str) -> str:
    """Normalise math notation to the Python-syntax subset that `parse_checked` accepts."""
    tokens = tokenize_math(text)
    tokens = [("op", "**") if t[1] == "^" else t for t in tokens]
    for _, token_text in tokens:
        if token_text in ("=", "<", ">", "//"):
            raise UnsafeExpressionError(f"'{token_text}' is not allowed inside an expression")
    tokens = _split_names(tokens)
    for token, following in zip(tokens, tokens[1:], strict=False):
        unknown = token[1] not in FUNCTIONS and token[1] not in SYMBOLS and token[1] not in CONSTANTS
        if token[0] == "name" and following[1] == "(" and unknown:
            _check_name(token[1], called=True)
    tokens = _apply_factorials(tokens)
    tokens = _apply_bare_functions(tokens)
    tokens = _insert_multiplications(tokens)
    return _join(tokens)


# ---------------------------------------------------------------------------------------------
# Python syntax -> checked AST
# ---------------------------------------------------------------------------------------------


def _check_name(name: str, *, called: bool) -> None:
    if "__" in name or name.startswith("_"):
        raise UnsafeExpressionError(f"names like {name} are not allowed")
    if called:
        if name not in FUNCTIONS:
            raise UnsafeExpressionError(f"the function {name}() is not allowed")
        return
    if name in FUNCTIONS:
        raise UnsafeExpressionError(f"the function {name} must be called with brackets, e.g. {name}(x)")
    if name not in CONSTANTS and name not in SYMBOLS:
        raise UnsafeExpressionError(f"the name {name!r} is not allowed (use single-letter variables)")


def _check_node(node: ast.AST, depth: int, counter: list[int]) -> None:
    counter[0] += 1
    if counter[0] > MAX_AST_NODES or depth > MAX_AST_DEPTH:
        raise UnsafeExpressionError("the expression is too long or too deeply nested")
    if isinstance(node, ast.Expression):
        _check_node(node.body, depth + 1, counter)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _ALLOWED_BINOPS):
            raise UnsafeExpressionError(f"the operator {type(node.op).__name__} is not allowed")
        _check_node(node.left, depth + 1, counter)
        _check_node(node.right, depth + 1, counter)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, _ALLOWED_UNARYOPS):
            raise UnsafeExpressionError(f"the operator {type(node.op).__name__} is not allowed")
        _check_node(node.operand, depth + 1, counter)
    elif isinstance(node, ast.Constant):
        # bool is a subclass of int; complex literals (2j) and strings are refused.
        if type(node.value) not in (int, float):
            raise UnsafeExpressionError("only numbers are allowed as literals")
    elif isinstance(node, ast.Name):
        _check_name(node.id, called=False)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise UnsafeExpressionError("only calls of allowed functions by name are allowed")
        _check_name(node.func.id, called=True)
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise UnsafeExpressionError("keyword or starred arguments are not allowed")
        arities = FUNCTIONS[node.func.id][1]
        if len(node.args) not in arities:
            raise UnsafeExpressionError(
                f"{node.func.id}() takes {' or '.join(map(str, arities))} argument(s), not {len(node.args)}"
            )
        if node.func.id == "Matrix":
            _check_matrix_literal(node.args[0], depth + 1, counter)
            return
        for arg in node.args:
            _check_node(arg, depth + 1, counter)
    else:
        raise UnsafeExpressionError(f"{_describe(node)} is not allowed")


def _check_matrix_literal(node: ast.AST, depth: int, counter: list[int]) -> None:
    """Matrix() takes only a list of equally long lists of expressions (or one flat list: a column)."""
    if not isinstance(node, ast.List) or not node.elts:
        raise UnsafeExpressionError("Matrix() takes a list of rows, e.g. Matrix([[1, 2], [3, 4]])")
    rows = node.elts if all(isinstance(row, ast.List) for row in node.elts) else [node]
    if len({len(row.elts) for row in rows}) != 1:  # type: ignore[attr-defined]
        raise UnsafeExpressionError("every row of a Matrix must have the same length")
    for row in rows:
        for entry in row.elts:  # type: ignore[attr-defined]
            _check_node(entry, depth + 2, counter)


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access (.)",
        ast.Subscript: "indexing ([...])",
        ast.Lambda: "lambda",
        ast.Compare: "comparison",
        ast.BoolOp: "and/or",
        ast.Tuple: "a tuple (a, b)",
        ast.List: "a list",
        ast.Dict: "a dict",
        ast.JoinedStr: "a string",
    }
    return names.get(type(node), f"the syntax {type(node).__name__}")


def parse_checked(python_text: str) -> ast.Expression:
    """Parse Python-syntax text into an AST that only holds allowed nodes, or raise."""
    if len(python_text) > 2 * MAX_INPUT_CHARS:
        raise UnsafeExpressionError(f"the expression is longer than {MAX_INPUT_CHARS} characters")
    try:
        tree = ast.parse(python_text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsafeExpressionError(f"it is not a valid expression ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise UnsafeExpressionError("the expression is too long or too deeply nested") from None
    try:
        _check_node(tree, 0, [0])
    except RecursionError:
        raise UnsafeExpressionError("the expression is too long or too deeply nested") from None
    return tree


def check_expression(text: str) -> str:
    """Normalise and check one math expression; return its Python-syntax form or raise."""
    python_text = to_python_syntax(text)
    parse_checked(python_text)
    return python_text


def expression_names(python_text: str) -> set[str]:
    """Free symbol names used in a checked expression (cheap: no SymPy)."""
    tree = parse_checked(python_text)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called and n.id in SYMBOLS}


# ---------------------------------------------------------------------------------------------
# Checked AST -> SymPy (worker process only)
# ---------------------------------------------------------------------------------------------


def _log2_magnitude(value) -> float:
    """log2 of |value| for a SymPy rational (numerator or denominator, whichever is larger)."""
    return max(math.log2(abs(int(value.p))), math.log2(abs(int(value.q))))


def _guard_power(base, exponent) -> None:
    """Refuse numeric powers whose exact result would exceed MAX_RESULT_BITS (checked before computing)."""
    if getattr(base, "is_Matrix", False) and getattr(exponent, "is_Integer", False):
        if abs(exponent) > MAX_MATRIX_POWER:
            raise TooLargeError(f"matrix powers above {MAX_MATRIX_POWER:,} are not computed")
        return
    if not (getattr(base, "is_Rational", False) and getattr(exponent, "is_Rational", False)):
        return
    if abs(base) in (0, 1) or abs(exponent) <= 1:
        return
    # Compare logarithms: the exponent itself may be too big for a float (10**400).
    log2_bits = math.log2(abs(int(exponent.p))) - math.log2(int(exponent.q)) + math.log2(_log2_magnitude(base))
    if log2_bits > math.log2(MAX_RESULT_BITS):
        digits = 2.0**log2_bits * math.log10(2) if log2_bits < 1000 else math.inf
        raise TooLargeError(f"the power would have {_digits_phrase(digits)}")


def _guard_factorial(argument) -> None:
    if getattr(argument, "is_Integer", False) and argument > 1000:
        n = int(argument)
        if n.bit_length() > 60:  # far beyond any limit, and too big for the float formula below
            raise TooLargeError(f"factorial of a {len(str(n))}-digit number would have {_digits_phrase(math.inf)}")
        digits = (n * math.log(n / math.e) + 0.5 * math.log(2 * math.pi * n)) / math.log(10)  # Stirling
        if digits * math.log2(10) > MAX_RESULT_BITS:
            raise TooLargeError(f"factorial({n}) would have {_digits_phrase(digits)}")


def _digits_phrase(count: float) -> str:
    if not math.isfinite(count) or count >= 1e15:
        return "an astronomical number of digits"
    if count >= 1e9:
        return f"about {count / 1e9:.3g} billion digits"
    if count >= 1e6:
        return f"about {count / 1e6:.3g} million digits"
    return f"about {count:,.0f} digits"


def _guard_matrix_size(args: list) -> None:
    if not all(getattr(arg, "is_Integer", False) and arg >= 0 for arg in args):
        raise UnsafeExpressionError("matrix sizes must be non-negative whole numbers")
    rows, cols = (args[0], args[-1])
    if rows * cols > MAX_MATRIX_ENTRIES:
        raise TooLargeError(f"a {rows}×{cols} matrix has more than the {MAX_MATRIX_ENTRIES:,} entries allowed")


def _matrix_argument(value, name: str):
    if not getattr(value, "is_Matrix", False):
        raise UnsafeExpressionError(f"{name}() needs a matrix, e.g. {name}(Matrix([[1, 2], [3, 4]]))")
    return value


def _build_matrix_rows(node: ast.List, build) -> list:
    if all(isinstance(row, ast.List) for row in node.elts):
        return [[build(entry) for entry in row.elts] for row in node.elts]  # type: ignore[attr-defined]
    return [[build(entry)] for entry in node.elts]


def build_sympy(python_text: str, symbol_table: dict | None = None):
    """Build the SymPy value of a checked expression without `eval`, refusing huge numbers."""
    import sympy

    source = python_text.strip()
    tree = parse_checked(source)
    symbols = symbol_table if symbol_table is not None else {}

    def build(node: ast.AST):
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant):
            # Decimals become exact rationals from their literal text: 0.1 + 0.2 is 3/10, not
            # 0.30000000000000004, and 1e-400 is not the float 0.0.
            if isinstance(node.value, int):
                return sympy.Integer(node.value)
            literal = source[node.col_offset : node.end_col_offset]
            exponent = re.search(r"[eE]([+-]?\d+)$", literal)
            if exponent and abs(int(exponent.group(1))) > MAX_LITERAL_EXPONENT:
                raise TooLargeError(f"{literal} has more than {MAX_LITERAL_EXPONENT:,} digits")
            return sympy.Rational(literal)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return getattr(sympy, CONSTANTS[node.id])
            return symbols.setdefault(node.id, sympy.Symbol(node.id))
        if isinstance(node, ast.UnaryOp):
            operand = build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left, right = build(node.left), build(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right
            if isinstance(node.op, ast.Mod):
                return sympy.Mod(left, right)
            _guard_power(left, right)
            return left**right
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]  # checked to be an ast.Name
            if name == "Matrix":
                return sympy.ImmutableMatrix(_build_matrix_rows(node.args[0], build))  # type: ignore[arg-type]
            args = [build(arg) for arg in node.args]
            if name == "factorial":
                _guard_factorial(args[0])
            elif name == "gamma":
                _guard_factorial(args[0] - 1)
            elif name == "binomial" and getattr(args[0], "is_Integer", False) and args[0] > MAX_RESULT_BITS:
                raise TooLargeError(f"binomial({args[0]}, ...) is too large")
            if name == "root" and args[1].is_Integer and args[1] != 0:
                return sympy.root(args[0], args[1])
            if name in MATRIX_CONSTRUCTORS:
                _guard_matrix_size(args)
            if name == "inverse":
                return _matrix_argument(args[0], name).inv()
            if name in ("det", "trace"):
                return getattr(_matrix_argument(args[0], name), name)()
            return getattr(sympy, FUNCTIONS[name][0])(*args)
        raise UnsafeExpressionError(f"{_describe(node)} is not allowed")

    return build(tree)


# ---------------------------------------------------------------------------------------------
# Solving (worker process only)
# ---------------------------------------------------------------------------------------------


def format_exact(value) -> str:
    """SymPy's string of a value, or a size summary for integers too long to show."""
    if getattr(value, "is_Integer", False):
        digits = abs(int(value)).bit_length() * math.log10(2)
        if digits > MAX_EXACT_DIGITS:
            return f"an integer with {_digits_phrase(digits)}"
    return str(value)


def format_decimal(value) -> str | None:
    """A DECIMAL_DIGITS-significant-digit approximation, or None when it adds nothing."""
    import sympy

    if not getattr(value, "is_number", False) or value.is_Integer:
        return None
    # A Gaussian rational such as 2*I or 1/2 + I/2: a decimal adds nothing. (Checked on the atoms
    # because as_real_imag() takes seconds on CRootOf values.)
    gaussian = (
        value.has(sympy.I) and not value.has(sympy.Pow) and all(a.is_Rational or a is sympy.I for a in value.atoms())
    )
    if gaussian:
        return None
    if value.has(sympy.zoo, sympy.nan) or value.is_infinite:
        return None
    approximation = sympy.N(value, DECIMAL_DIGITS)
    text = str(approximation)
    if "." in text and "e" not in text.lower():
        text = text.rstrip("0").rstrip(".") if "*I" not in text else text
    return text


def _pick_variable(expression, requested: str | None, symbols: dict):
    import sympy

    if requested:
        return symbols.setdefault(requested, sympy.Symbol(requested))
    free = sorted(expression.free_symbols, key=lambda s: s.name)
    if len(free) == 1:
        return free[0]
    if not free:
        return symbols.setdefault("x", sympy.Symbol("x"))
    for preferred in ("x", "t", "y", "z"):
        if preferred in symbols:
            return symbols[preferred]
    raise UnsafeExpressionError(f"say which variable to use (the expression has {', '.join(s.name for s in free)})")


def _value_result(expression_text: str, value, unit: str = "") -> dict:
    import sympy

    if value.has(sympy.zoo, sympy.nan):
        return {
            "exact": str(value),
            "decimal": None,
            "answer": f"{expression_text} is undefined (division by zero or an indeterminate form)",
        }
    exact = format_exact(value)
    decimal = format_decimal(value)
    if decimal is None and getattr(value, "is_Integer", False) and exact.startswith("an integer"):
        decimal = str(sympy.N(value, DECIMAL_DIGITS))
    if decimal is None:
        answer = f"{expression_text} = {exact}{unit}"
    else:
        answer = f"{expression_text} = {decimal}{unit} (exact: {exact})"
    return {"exact": exact, "decimal": decimal, "answer": answer}


def _with_decimal(value) -> str:
    decimal = format_decimal(value)
    return f"{value} (≈ {decimal})" if decimal and decimal != str(value) else str(value)


def _solve_equations(problem: dict, symbols: dict) -> dict:
    import sympy

    equations, free = [], set()
    for text in problem["expressions"]:
        left, _, right = text.partition("=")
        lhs = build_sympy(left, symbols)
        rhs = build_sympy(right, symbols) if right.strip() else sympy.Integer(0)
        free |= lhs.free_symbols | rhs.free_symbols
        equations.append(sympy.Eq(lhs, rhs))
    shown = ", ".join(problem["expressions"])
    variables = [symbols.setdefault(v, sympy.Symbol(v)) for v in problem.get("variables") or []]
    variables = variables or sorted(free, key=lambda s: s.name)
    if any(eq == sympy.false for eq in equations):
        return {"exact": "[]", "decimal": None, "answer": f"{shown} has no solution"}
    equations = [eq for eq in equations if eq != sympy.true]
    if not equations:
        names = ", ".join(v.name for v in variables)
        answer = f"{shown} holds for every {names}" if variables else f"{shown} is true"
        return {"exact": "True", "decimal": None, "answer": answer}
    if len(equations) == 1 and len(variables) == 1:
        return _solve_single(equations[0], variables[0], shown)
    solutions = sympy.solve(equations, variables, dict=True)
    if not solutions:
        return {"exact": "[]", "decimal": None, "answer": f"{shown} has no solution"}
    rendered = [
        ", ".join(f"{var} = {_with_decimal(sol[var])}" if var in sol else f"{var} is free" for var in variables)
        for sol in solutions
    ]
    exact = str([{str(k): str(v) for k, v in sol.items()} for sol in solutions])
    return {"exact": exact, "decimal": None, "answer": " or ".join(rendered)}


def _solve_single(equation, variable, shown: str) -> dict:
    import sympy

    solution_set = sympy.solveset(equation, variable, domain=sympy.S.Complexes)
    if isinstance(solution_set, sympy.FiniteSet) and solution_set.has(sympy.CRootOf):
        # Roots without a closed form (quintics): isolating complex CRootOf values exactly takes
        # seconds each, so show mpmath's numerical roots instead.
        polynomial = sympy.Poly(equation.lhs - equation.rhs, variable)
        roots = polynomial.nroots(n=DECIMAL_DIGITS)
        answer = " or ".join(f"{variable} ≈ {root}" for root in roots) + " (numerical; no closed form)"
        return {"exact": str(list(solution_set)), "decimal": str(roots), "answer": answer}
    if isinstance(solution_set, sympy.FiniteSet):
        roots = sorted(solution_set, key=sympy.default_sort_key)
        if not roots:
            return {"exact": "[]", "decimal": None, "answer": f"{shown} has no solution"}
        answer = " or ".join(f"{variable} = {_with_decimal(root)}" for root in roots)
        return {"exact": str(list(roots)), "decimal": None, "answer": answer}
    if solution_set == sympy.S.Complexes:
        return {"exact": "Complexes", "decimal": None, "answer": f"{shown} holds for every {variable}"}
    real_set = sympy.solveset(equation, variable, domain=sympy.S.Reals)
    if isinstance(real_set, sympy.FiniteSet) and len(real_set):
        roots = sorted(real_set, key=sympy.default_sort_key)
        answer = " or ".join(f"{variable} = {_with_decimal(root)}" for root in roots) + " (real solutions)"
        return {"exact": str(list(roots)), "decimal": None, "answer": answer}
    principal = sympy.solve(equation, variable)  # e.g. sin(x) = 0 -> [0, pi]
    if principal:
        roots = " or ".join(f"{variable} = {_with_decimal(root)}" for root in principal)
        answer = f"{roots} (principal solutions; all solutions: {variable} ∈ {solution_set})"
        return {"exact": str(solution_set), "decimal": None, "answer": answer}
    return {"exact": str(solution_set), "decimal": None, "answer": f"{variable} ∈ {solution_set}"}


def _calculus(problem: dict, symbols: dict) -> dict:
    import sympy

    kind = problem["kind"]
    text = problem["expressions"][0]
    expression = build_sympy(text, symbols)
    variable = _pick_variable(expression, (problem.get("variables") or [None])[0], symbols)
    if kind == "derivative":
        order = int(problem.get("order") or 1)
        value = sympy.diff(expression, variable, order)
        prefix = f"d/d{variable}" if order == 1 else f"d^{order}/d{variable}^{order}"
        return {"exact": str(value), "decimal": None, "answer": f"{prefix} ({text}) = {value}"}
    if kind == "integral":
        lower, upper = problem.get("lower"), problem.get("upper")
        if lower is not None and upper is not None:
            a, b = build_sympy(lower, symbols), build_sympy(upper, symbols)
            value = sympy.integrate(expression, (variable, a, b))
            if value.has(sympy.Integral):
                numeric = sympy.N(value, DECIMAL_DIGITS)
                return {
                    "exact": str(numeric),
                    "decimal": str(numeric),
                    "answer": f"∫_{lower}^{upper} {text} d{variable} ≈ {numeric} (numerical; no closed form found)",
                }
            result = _value_result(f"∫_{lower}^{upper} {text} d{variable}", value)
            return result
        value = sympy.integrate(expression, variable)
        if value.has(sympy.Integral):
            return {
                "exact": str(value),
                "decimal": None,
                "answer": f"SymPy found no closed form for ∫ {text} d{variable}",
            }
        return {"exact": str(value), "decimal": None, "answer": f"∫ {text} d{variable} = {value} + C"}
    # limit
    point = build_sympy(problem.get("point") or "0", symbols)
    direction = problem.get("direction") or "+-"
    value = sympy.limit(expression, variable, point, dir=direction)
    side = {"+": "+", "-": "-"}.get(direction, "")
    result = _value_result(f"lim_{{{variable}→{point}{side}}} {text}", value)
    return result


def solve_problem(problem: dict) -> dict:
    """Compute one MathProblem (as a dict) and compose the answer from SymPy's result only."""
    import sympy

    kind = problem["kind"]
    symbols: dict = {}
    if kind in ("solve", "system"):
        return _solve_equations(problem, symbols)
    if kind in ("derivative", "integral", "limit"):
        return _calculus(problem, symbols)
    if kind == "compare":
        return _compare(problem, symbols)
    text = problem["expressions"][0]
    shown = problem.get("display") or text
    expression = build_sympy(text, symbols)
    if kind == "simplify":
        value = sympy.simplify(expression)
        return {"exact": str(value), "decimal": format_decimal(value), "answer": f"{text} simplifies to {value}"}
    if kind == "expand":
        value = sympy.expand(expression)
        return {"exact": str(value), "decimal": None, "answer": f"{text} expands to {value}"}
    if kind == "factor":
        if expression.is_Integer and abs(expression) > 1:
            factors = sympy.factorint(expression)
            product = " * ".join(f"{p}**{k}" if k > 1 else str(p) for p, k in sorted(factors.items()))
            return {"exact": product, "decimal": None, "answer": f"{text} = {product}"}
        value = sympy.factor(expression)
        return {"exact": str(value), "decimal": None, "answer": f"{text} factors as {value}"}
    return _value_result(shown, expression, problem.get("unit") or "")


_RELATION_SYMBOL = {1: ">", -1: "<", 0: "="}


def _order(left, right) -> int:
    """1, -1 or 0 as left is greater than, less than or equal to right (real numbers only)."""
    import sympy

    if not (left.is_real and right.is_real):
        raise ValueError("only real numbers can be compared")
    difference = sympy.simplify(left - right)
    if difference.is_zero:
        return 0
    if difference.is_positive is not None:
        return 1 if difference.is_positive else -1
    value = sympy.N(difference, 50)  # SymPy could not decide symbolically: 50 significant digits
    return 0 if value == 0 else 1 if value > 0 else -1


def _compare(problem: dict, symbols: dict) -> dict:
    """'Is a greater than b?' -> 'Yes: 1001 > 999'; 'Which is larger, a or b?' -> '0.43 is larger: 3/7 ≈ 0.43 < 0.43'."""
    left_text, right_text = problem["expressions"][:2]
    left, right = build_sympy(left_text, symbols), build_sympy(right_text, symbols)
    order = _order(left, right)
    statement = f"{_shown_value(left_text, left)} {_RELATION_SYMBOL[order]} {_shown_value(right_text, right)}"
    relation = problem.get("relation")
    if relation in ("larger", "smaller"):
        if order == 0:
            answer = f"Neither: they are equal ({statement})"
        else:
            winner = _unbracketed(left_text if (order > 0) == (relation == "larger") else right_text)
            answer = f"{winner} is {relation}: {statement}"
    else:
        wanted = {"greater": 1, "less": -1, "equal": 0}[relation or "equal"]
        answer = f"{'Yes' if order == wanted else 'No'}: {statement}"
    return {"exact": _RELATION_SYMBOL[order], "decimal": None, "answer": answer}


def _shown_value(text: str, value) -> str:
    """'3/7 (≈ 0.428571428571429)'; a plain number as it was written."""
    decimal = format_decimal(value)
    text = _unbracketed(text)
    return f"{text} (≈ {decimal})" if decimal and decimal != text else text


def _unbracketed(text: str) -> str:
    """'(3/7)' -> '3/7'; '(1+2)*(3+4)' stays as it is."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and position < len(text) - 1:
            return text
    return text[1:-1]


def _values_equal(left, right) -> bool:
    import sympy

    try:
        if sympy.simplify(left - right) == 0:
            return True
    except (TypeError, ValueError, AttributeError):
        pass
    if left.is_number and right.is_number:
        a, b = complex(sympy.N(left, 30)), complex(sympy.N(right, 30))
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return False


def sets_equivalent(candidates: list[list[str]], golds: list[list[str]]) -> bool:
    """True when some candidate set of values equals some gold set, value by value (unordered)."""
    built_golds = []
    for gold in golds:
        try:
            built_golds.append([build_sympy(text, {}) for text in gold])
        except (UnsafeExpressionError, TooLargeError, TypeError, ValueError):
            continue
    for candidate in candidates:
        try:
            values = [build_sympy(text, {}) for text in candidate]
        except (UnsafeExpressionError, TooLargeError, TypeError, ValueError):
            continue
        for gold in built_golds:
            if (
                len(gold) == len(values)
                and all(any(_values_equal(v, g) for g in gold) for v in values)
                and all(any(_values_equal(v, g) for v in values) for g in gold)
            ):
                return True
    return False


# ---------------------------------------------------------------------------------------------
# Worker loop: one JSON request per line on stdin, one JSON response per line on stdout
# ---------------------------------------------------------------------------------------------


def _limit_memory(limit_bytes: int) -> None:
    try:
        import resource
    except ImportError:  # not on POSIX: only the parent's timeout applies
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def handle_request(request: dict) -> dict:
    """Answer one request; every failure becomes an 'error' field, never a traceback."""
    try:
        if request.get("op") == "ping":
            return {"ok": True}
        if request.get("op") == "equivalent":
            return {"ok": True, "equal": sets_equivalent(request["candidates"], request["golds"])}
        return {"ok": True, "result": solve_problem(request["problem"])}
    except UnsafeExpressionError as exc:
        return {"ok": False, "kind": "rejected", "error": str(exc)}
    except TooLargeError as exc:
        return {"ok": False, "kind": "too_large", "error": str(exc)}
    except MemoryError:
        return {"ok": False, "kind": "too_large", "error": "it needs more memory than the math worker may use"}
    except RecursionError:
        return {"ok": False, "kind": "too_large", "error": "it is too deeply nested to compute"}
    except ZeroDivisionError:
        return {"ok": False, "kind": "failed", "error": "division by zero"}
    except NotImplementedError as exc:
        return {"ok": False, "kind": "failed", "error": f"SymPy cannot do this yet ({exc})"[:300]}
    except Exception as exc:  # noqa: BLE001 - the worker must answer, whatever SymPy raises
        return {"ok": False, "kind": "failed", "error": f"{type(exc).__name__}: {exc}"[:300]}


def _exit_when_orphaned(poll_s: float = 0.5) -> None:
    """Exit if the parent dies mid-computation (stdin EOF is only seen between requests).

    A polling thread rather than PR_SET_PDEATHSIG, which fires when the *thread* that started the
    worker exits, and the tool may be first called from a short-lived thread.
    """
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def serve(stdin=None, stdout=None) -> None:
    """Serve requests until stdin closes (the parent exited or closed the pipe)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    _exit_when_orphaned()
    import sympy  # noqa: F401 - imported once, before the first request, so requests are fast

    memory = int(sys.argv[1]) if len(sys.argv) > 1 else WORKER_MEMORY_BYTES
    _limit_memory(memory)
    stdout.write(json.dumps({"ready": True}) + "\n")
    stdout.flush()
    for line in stdin:
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            response = {"ok": False, "kind": "failed", "error": "bad request"}
        else:
            response = handle_request(request)
        stdout.write(json.dumps(response) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve()
    sys.stdout.flush()
    # Nothing to clean up: skip tearing down SymPy's modules (about 0.15 s), which the parent waits for.
    os._exit(0)

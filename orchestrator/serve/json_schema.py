"""A client's `response_format` JSON schema, bounded before llama.cpp turns it into a grammar.

llama.cpp's converter writes a grammar rule per allowed repetition: an array's items, a string's
characters, a pattern's `{m,n}`. A 232-byte schema with "minItems": 10000000 made the server peak
at 1.4 GB and keep 974 MB (issue 31), so the schema's size, depth and every count in it are bounded
first; then it is converted once, and a schema the converter cannot handle is a 400, not free-form JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.serve.schema import ApiError

MAX_SCHEMA_BYTES = 8 * 1024  # as compact JSON
MAX_SCHEMA_DEPTH = 16  # nested objects and lists
# minItems, maxItems, minLength, maxLength, minProperties, maxProperties and a pattern's {m,n}. An answer
# is at most a few hundred tokens (ServeLimits.max_tokens), so a count above this cannot be met anyway.
MAX_SCHEMA_COUNT = 1024
MAX_GRAMMAR_CHARS = 256 * 1024  # the converted grammar, a second bound whatever the schema's shape
COUNT_KEYWORDS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_PATTERN_COUNT = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


# Keywords whose value maps names to schemas, and keywords whose value is data, not a schema.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_DATA = ("enum", "const", "default", "examples", "required")


def schema_problem(schema: Any, depth: int = 0) -> str | None:
    """What makes `schema` too costly to turn into a grammar, or None. Walks every nested schema."""
    if depth > MAX_SCHEMA_DEPTH:
        return f"is nested more than {MAX_SCHEMA_DEPTH} levels deep"
    if isinstance(schema, list):
        return first_problem(schema, depth + 1)
    if not isinstance(schema, dict):
        return None
    for keyword in COUNT_KEYWORDS:
        value = schema.get(keyword)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > MAX_SCHEMA_COUNT:
            return f"{keyword} {value} is above this server's limit of {MAX_SCHEMA_COUNT}"
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        for match in _PATTERN_COUNT.finditer(pattern):
            if any(n and int(n) > MAX_SCHEMA_COUNT for n in match.groups()):
                return f"has a pattern that repeats more than {MAX_SCHEMA_COUNT} times ({match.group(0)})"
    ref = schema.get("$ref")
    if ref is not None and not (isinstance(ref, str) and ref.startswith("#")):
        return "may refer only to its own definitions ($ref starting with #), never to another document"
    for key, value in schema.items():
        if key in _DATA:
            continue
        children = list(value.values()) if key in _SCHEMA_MAPS and isinstance(value, dict) else [value]
        problem = first_problem(children, depth + 1)
        if problem:
            return problem
    return None


def first_problem(schemas: list, depth: int) -> str | None:
    return next((p for p in (schema_problem(s, depth) for s in schemas) if p), None)


def checked_schema(schema: Any) -> dict:
    """`schema` when it is a JSON schema this server can turn into a grammar; a 400 naming what is wrong otherwise."""
    if not isinstance(schema, dict):
        raise refused("must be a JSON schema object")
    if len(json.dumps(schema, separators=(",", ":"))) > MAX_SCHEMA_BYTES:
        raise refused(f"is larger than {MAX_SCHEMA_BYTES // 1024} KiB")
    problem = schema_problem(schema)
    if problem is not None:
        raise refused(problem)
    from orchestrator.llm import json_schema_grammar

    try:
        grammar = json_schema_grammar(schema)
    except ValueError as exc:
        raise refused(f"cannot be turned into a grammar ({exc})") from None
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise refused(f"needs a grammar of {len(grammar):,} characters, above this server's {MAX_GRAMMAR_CHARS:,}")
    return schema


def refused(problem: str) -> ApiError:
    return ApiError(
        400, f"response_format.json_schema.schema {problem}.", "invalid_value", "response_format.json_schema.schema"
    )

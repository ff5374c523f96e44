"""Dependencies run one way: the faces (cli/) depend on the library, settings and answers on nothing heavy."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"
# `python -m orchestrator` is the command line itself.
FACES = {"__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every orchestrator module a file imports, at the top or inside a function."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "orchestrator" or name.startswith("orchestrator.")}


def library_modules() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "cli" not in path.relative_to(PACKAGE).parts[:1] and path.stem not in FACES
    ]


def reaches(imports: set[str], package: str) -> list[str]:
    return sorted(name for name in imports if name == package or name.startswith(package + "."))


def test_nothing_outside_cli_imports_cli():
    offenders = {module_name(path): reaches(imported_modules(path), "orchestrator.cli") for path in library_modules()}
    assert not {name: found for name, found in offenders.items() if found}


@pytest.mark.parametrize("forbidden", ["orchestrator.knowledge", "orchestrator.chains", "orchestrator.llm"])
def test_settings_know_no_component(forbidden):
    assert not reaches(imported_modules(PACKAGE / "config.py"), forbidden)


def test_the_answer_type_does_not_depend_on_the_benchmark():
    assert not reaches(imported_modules(PACKAGE / "result.py"), "orchestrator.bench")


def test_cli_modules_do_not_import_each_other_in_a_cycle():
    # The package __init__ registers every command module; the cycle that matters is between commands.
    cli = {module_name(path): path for path in (PACKAGE / "cli").glob("*.py") if path.name != "__init__.py"}
    edges = {
        name: {other for other in cli if other != name and reaches(imported_modules(path), other)}
        for name, path in cli.items()
    }
    cycles = sorted((a, b) for a in edges for b in edges[a] if a in edges.get(b, set()) and a < b)
    assert not cycles


def test_import_scan_sees_lazy_and_relative_imports(tmp_path):
    package = tmp_path / "orchestrator" / "sub"
    package.mkdir(parents=True)
    source = package / "thing.py"
    source.write_text(
        "def f():\n    from orchestrator.cli.common import x\n\nfrom . import sibling\nfrom ..llm import y\n"
    )
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "orchestrator"
    try:
        found = imported_modules(source)
    finally:
        PACKAGE = saved
    assert {"orchestrator.cli.common", "orchestrator.sub.sibling", "orchestrator.llm", "orchestrator.llm.y"} <= found


@pytest.mark.parametrize(
    "definition",
    [
        "Progress = Callable[[str, int, int], None]",
        '"smollm2-135m-instruct"',
        '"all-minilm-l6-v2"',
        'PROVENANCE_PREFIX = "',
    ],
)
def test_one_definition_of_each_idea(definition):
    places = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if definition in path.read_text(encoding="utf-8")
    ]
    assert len(places) == 1, places


@pytest.mark.parametrize("literal", ['"general.architecture"', '.attention.head_count"', '"{arch}.', 'f"{arch}.'])
def test_gguf_metadata_keys_come_from_gguf_keys(literal):
    # llm.py reads the chat template key once, without importing gguf-py (it is on the cold-start path).
    places = [
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if literal in path.read_text(encoding="utf-8")
    ]
    assert not places


@pytest.mark.parametrize("component", ["orchestrator.llm", "orchestrator.models"])
def test_the_store_builds_no_embeddings_of_its_own(component):
    # Components are wired in app.py (build_app, open_knowledge_store); the store takes what it is given.
    assert not reaches(imported_modules(PACKAGE / "knowledge" / "store.py"), component)


@pytest.mark.parametrize(
    "literal, home",
    [
        ("(?<=[.!?])", "text.py"),  # the sentence splitter (grounding and evidence each had one, and they disagreed)
        ("(?:[.,'][^", "text.py"),  # the one word tokenizer: grounding, evidence ranking and the BM25 index
        ('"""what which who', "text.py"),  # the question words
        ("according document documents", "text.py"),  # the grounding check's stopwords
        ("def stem(", "text.py"),
        ("STOPWORDS_EN", "knowledge/keyword_index.py"),  # bm25s' word list (written out there, tested equal)
        ("an and are as at be but by", "knowledge/keyword_index.py"),
        ("_BEGIN>>>", "untrusted.py"),  # the fence markers: one `fence` for documents and web results
        ("not as instructions", "untrusted.py"),  # the fence header's warning
        ("def neutralise(", "untrusted.py"),
    ],
)
def test_one_copy_of_each_text_idea(literal, home):
    places = sorted(
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if literal in path.read_text(encoding="utf-8")
    )
    assert places == [home]


def test_the_docs_and_web_routes_fence_with_the_same_function():
    for module in ("chains/docs.py", "tools/web_search.py"):
        assert "orchestrator.untrusted.fence" in imported_modules(PACKAGE / module), module


def test_the_routing_table_in_the_architecture_page_is_the_one_in_the_code():
    from orchestrator.chains.router import routing_table

    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    shown = page.split("<!-- routing table: generated from orchestrator.chains.router.RULES -->\n")[1]
    shown = shown.split("<!-- end of routing table -->")[0].strip().splitlines()[2:]
    expected = [f"| {i} | {name} | {serves} | {route} |" for i, (name, serves, route) in enumerate(routing_table(), 1)]
    assert shown == expected, "docs/architecture.md's routing table differs from RULES in chains/router.py"


def test_every_tuning_field_is_used_and_explained():
    from dataclasses import fields

    from orchestrator.tuning import Tuning, notes

    code = "\n".join(path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py") if path.name != "tuning.py")
    for item in fields(Tuning):
        assert f".{item.name}" in code, f"Tuning.{item.name} is not used anywhere in orchestrator/"
        assert len(notes()[item.name].split()) >= 8, f"Tuning.{item.name} needs a note: what it trades off, which split"

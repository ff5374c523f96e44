"""The README's commands are the ones CI runs."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

README = (PROJECT_ROOT / "README.md").read_text()
CI = (PROJECT_ROOT / ".ci" / "run").read_text()


def test_ci_runs_the_readme_test_command():
    ci_command = CI.split("# README test command:\n", 1)[1].strip().splitlines()[0]
    assert ci_command in README


def test_readme_has_the_chat_command():
    assert "pip install -e . && orchestrator chat" in README


def test_ci_runs_the_readme_chat_command():
    ci_command = CI.split("# README chat command:\n", 1)[1].strip().splitlines()[0]
    assert ci_command.startswith("pip install -e . && orchestrator chat ")


def test_public_api_is_pinned():
    import orchestrator

    assert orchestrator.__all__ == [
        "Answer",
        "OrchestratorApp",
        "Settings",
        "build_app",
        "make_retriever",
        "math_tool",
        "web_search_tool",
    ]
    for name in orchestrator.__all__:
        assert getattr(orchestrator, name) is not None

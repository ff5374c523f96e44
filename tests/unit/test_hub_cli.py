"""`orchestrator pull hf:...`, `models`, `pull --list`, then `ask --model NAME` on the routes, through the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.helpers.chat_families import ANSWER, FAMILIES, write_family_gguf
from tests.hf_standin import hf_standin  # noqa: F401 - fixture
from tests.search_standin import Hit, Results, search_standin  # noqa: F401 - fixture

REPO = "standin/Tiny-Qwen2.5-GGUF"
FILE = "tiny-qwen2.5-F32.gguf"


@pytest.fixture
def pulled(hf_standin, tmp_path):
    hf_standin.add(REPO, {FILE: write_family_gguf(tmp_path / "src" / FILE, FAMILIES["qwen2.5"])})
    result = CliRunner().invoke(app, ["pull", f"hf:{REPO}/{FILE}"])
    assert result.exit_code == 0, result.output
    return result


def test_pull_prints_the_short_name_to_use(pulled):
    assert "Pulled hf:standin/Tiny-Qwen2.5-GGUF/tiny-qwen2.5-F32.gguf" in pulled.output
    assert "Use it with --model tiny-qwen2.5-F32" in pulled.output


def test_models_lists_the_source_and_revision(pulled):
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "tiny-qwen2.5-F32" in line)
    assert "hf:standin/Tiny-Qwen2.5-GGUF@0123456" in row and "llama" in row


@pytest.mark.parametrize(
    "route, question, expected",
    [
        ("chat", "Tell me about Paris.", ANSWER),
        ("math", "2**10 + 3", "1027"),
    ],
)
def test_ask_with_the_short_name_on_each_route(pulled, route, question, expected):
    result = CliRunner().invoke(app, ["ask", "--model", "tiny-qwen2.5-F32", "--route", route, question])
    assert result.exit_code == 0, result.output
    assert expected in result.output and "<|im_end|>" not in result.output


def test_ask_on_the_web_route_with_the_pulled_model(pulled, search_standin):
    search_standin.default = Results([Hit("Paris", "https://example.org/paris", "Paris is lovely in spring.")])
    result = CliRunner().invoke(
        app, ["ask", "--model", "tiny-qwen2.5-F32", "--route", "web", "What is Paris like today?"]
    )
    assert result.exit_code == 0, result.output
    assert ANSWER in result.output and "example.org/paris" in result.output


def test_pull_list_shows_the_catalog_and_how_each_was_tested():
    result = CliRunner().invoke(app, ["pull", "--list"])
    assert result.exit_code == 0, result.output
    for name in (
        "smollm2-135m-instruct",
        "qwen2.5-1.5b-instruct",
        "llama-3.2-3b-instruct",
        "gemma-2-2b-it",
        "phi-3.5-mini-instruct",
    ):
        assert name in result.output
    assert "tiny stand-in model" in result.output


def test_a_pull_error_is_one_line_and_exit_1(hf_standin):
    result = CliRunner().invoke(app, ["pull", "hf:standin/Missing"])
    assert result.exit_code == 1
    assert "Error: Hugging Face repository standin/Missing was not found" in result.output
    assert "Traceback" not in result.output


def test_ask_with_an_hf_ref_pulls_it_first(hf_standin, tmp_path):
    hf_standin.add(REPO, {FILE: write_family_gguf(tmp_path / "src" / FILE, FAMILIES["qwen2.5"])})
    result = CliRunner().invoke(app, ["ask", "--model", f"hf:{REPO}/{FILE}", "--route", "chat", "Tell me about Paris."])
    assert result.exit_code == 0, result.output
    assert ANSWER in result.output and len(hf_standin.downloads(FILE)) == 1

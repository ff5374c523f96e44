"""Bad model files give one clear line and a non-zero exit, never a traceback."""

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.unit.test_gguf_file import write_small_gguf

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


@pytest.fixture
def truncated_gguf(tmp_path):
    data = write_small_gguf(tmp_path / "ok.gguf").read_bytes()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def text_as_gguf(tmp_path):
    path = tmp_path / "readme.gguf"
    path.write_text("# not a model\n")
    return path


@pytest.mark.parametrize("command", ["ask", "chat"])
@pytest.mark.parametrize("fixture", ["truncated_gguf", "text_as_gguf"])
def test_broken_model_gives_clear_error(request, command, fixture):
    path = request.getfixturevalue(fixture)
    args = [command, "--model", str(path)] + (["hello"] if command == "ask" else [])
    result = run(*args)
    assert result.exit_code == 1
    assert "Error:" in result.output and path.name in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_unknown_model_name(tmp_path):
    result = run("ask", "--model", "no-such-model", "hi")
    assert result.exit_code == 1
    assert "No model named 'no-such-model'" in result.output


def test_pull_unknown_name():
    result = run("pull", "llama-9000")
    assert result.exit_code == 1
    assert "not in the model registry" in result.output


def test_every_command_has_help():
    for command in ["pull", "models", "ask", "chat"]:
        result = run(command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.output


def test_missing_absolute_model_path(tmp_path):
    result = run("ask", "--model", str(tmp_path / "absent.gguf"), "hi")
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "does not exist" in text and "Traceback" not in text


def test_empty_question():
    result = run("ask", "--model", "no-such-model", "   ")
    assert result.exit_code == 1 and "Error:" in result.output


def test_a_bad_collection_name_fails_before_any_route_runs():
    result = run("ask", "--collection", "my notes", "What is 2+2?")  # a math question never opens the store
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "Invalid setting: collection: Collection name 'my notes' is not allowed" in text

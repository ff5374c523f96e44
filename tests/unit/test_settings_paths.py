"""ORCH_DATA_DIR (and the other folders) are resolved once, in Settings (issue 31, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from typer.testing import CliRunner

from orchestrator.cli import app as cli
from orchestrator.config import Settings
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.repair import check_knowledge_base
from orchestrator.knowledge.store import EmbeddingModelId, open_store

MODEL = EmbeddingModelId("fake", "f" * 64, 1, 16)


def test_a_relative_data_dir_is_made_absolute_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_DATA_DIR", "reldata")
    settings = Settings()
    assert settings.data_dir == tmp_path.resolve() / "reldata"
    assert Settings(data_dir=Path("a/../b"), models_dir="models", prompts_dir="p").data_dir == tmp_path.resolve() / "b"
    assert Settings(models_dir="models").resolved_models_dir == tmp_path.resolve() / "models"


@pytest.mark.parametrize("variable", ["ORCH_DATA_DIR", "ORCH_MODELS_DIR", "ORCH_PROMPTS_DIR"])
@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_folder_setting_means_the_default(variable, empty, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(variable, empty)
    settings = Settings()
    assert settings.data_dir != Path.cwd()
    if variable == "ORCH_DATA_DIR":
        assert settings.data_dir == (tmp_path / "xdg" / "orchestrator").resolve()
    if variable == "ORCH_MODELS_DIR":
        assert settings.models_dir is None
    if variable == "ORCH_PROMPTS_DIR":
        assert (settings.prompts_dir / "chat_system.txt").is_file()


def test_the_knowledge_base_works_under_a_relative_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("The lighthouse keeper logs every passing ship.")
    settings = Settings(data_dir="reldata")
    store = open_store(settings, DeterministicFakeEmbedding(size=16), MODEL, "default")
    assert ingest_paths(["docs"], store, settings).chunks_total == 1
    health = check_knowledge_base(settings)
    assert health.database_problem is None and [row.name for row in health.collections] == ["default"]
    monkeypatch.setenv("ORCH_DATA_DIR", "reldata")
    listing = CliRunner().invoke(cli, ["collections", "--check"])
    assert listing.exit_code == 0 and "sound" in listing.output, listing.output

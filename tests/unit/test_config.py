import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
LINE = re.compile(r"^# ORCH_([A-Z0-9_]+)=(.*)$")
PATH_FIELDS = {"data_dir", "prompts_dir"}  # defaults depend on the machine; documented in words


def example_entries() -> dict[str, str]:
    entries = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := LINE.match(line):
            entries[match.group(1).lower()] = match.group(2)
    return entries


def test_env_example_lists_every_setting_and_nothing_else():
    assert set(example_entries()) == set(Settings.model_fields)


def test_env_example_defaults_match_settings(monkeypatch):
    for name, shown in example_entries().items():
        if name in PATH_FIELDS:
            continue
        default = Settings.model_fields[name].default
        expected = "" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        assert shown == expected, f"ORCH_{name.upper()}: .env.example says {shown!r}, Settings says {expected!r}"


def test_every_setting_is_documented():
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"


def test_env_example_uncommented_loads_as_defaults(tmp_path, monkeypatch):
    # Uncommenting every line of .env.example must give the same settings as no file at all.
    lines = [line[2:] for line in ENV_EXAMPLE.read_text().splitlines() if LINE.match(line)]
    lines = [line for line in lines if line.split("=", 1)[0].lower().removeprefix("orch_") not in PATH_FIELDS]
    lines = [line for line in lines if line.split("=", 1)[1] != ""]
    (tmp_path / ".env").write_text("\n".join(lines))
    monkeypatch.chdir(tmp_path)
    from_file = Settings()
    defaults = Settings(_env_file=None)
    for name in Settings.model_fields:
        assert getattr(from_file, name) == getattr(defaults, name), name


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("ORCH_N_CTX", "4096")
    monkeypatch.setenv("ORCH_MODELS_DIR", "/tmp/somewhere")
    settings = Settings()
    assert settings.n_ctx == 4096
    assert settings.resolved_models_dir == Path("/tmp/somewhere")


def test_models_dir_defaults_under_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_models_dir == tmp_path / "models"


def test_invalid_value_is_rejected(monkeypatch):
    monkeypatch.setenv("ORCH_TEMPERATURE", "7")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("name", ["my notes", "ab", "-notes", "notes..old", "notes/2024"])
def test_a_collection_name_chroma_would_reject_is_refused_by_settings(name, monkeypatch):
    monkeypatch.delenv("ORCH_COLLECTION", raising=False)
    with pytest.raises(ValidationError, match="is not allowed"):
        Settings(collection=name)


def test_good_collection_names_pass():
    assert Settings(collection="my-notes_2024.v1").collection == "my-notes_2024.v1"

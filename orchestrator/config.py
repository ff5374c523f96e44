"""One typed Settings object, read from ORCH_* environment variables and a `.env` file.

Every field here is listed, with its default, in `.env.example`; `tests/unit/test_config.py`
keeps the two in sync.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.errors import ConfigError

# The shipped models' registry names (their sources and hashes are in orchestrator/models.py).
DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
DEFAULT_EMBEDDING_MODEL = "all-minilm-l6-v2"

# The longest time limit a setting accepts: an hour is already far past any useful wait, and an
# unbounded value (inf, 1e300) overflows the clocks and select() calls the limits are enforced with.
MAX_TIMEOUT_S = 3600.0
# Chroma's own rule for collection names, checked here so a bad name fails when settings are read.
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def validate_collection_name(name: str) -> str:
    """The name, if Chroma accepts it as a collection name; else a ConfigError saying what to use."""
    if not _COLLECTION_NAME.match(name) or ".." in name:
        raise ConfigError(
            f"Collection name {name!r} is not allowed: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit (for example `--collection my-notes`)."
        )
    return name


def _shipped_prompts_dir() -> Path:
    from orchestrator.resources import prompts_dir

    return prompts_dir()


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "orchestrator"


def _unknown_settings_message(unknown: list[str], known: list[str]) -> str:
    import difflib

    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"Unknown setting {', '.join(hints)}: see Settings' fields or .env.example for the valid names."


class Settings(BaseSettings):
    """Application settings; each field maps to the environment variable ORCH_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="ORCH_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where indexes, chat history and caches live. A relative path is taken from the current folder "
        "when settings are read; an empty value means the default.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where pulled and produced GGUF models live (default: DATA_DIR/models).",
    )
    model: str = Field(
        default=DEFAULT_CHAT_MODEL,
        description="Chat model: a registry name, an installed model's name, or a .gguf path.",
    )
    n_ctx: int = Field(default=2048, ge=128, description="Context window in tokens.")
    n_threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads for llama.cpp (default: re-chosen from the free cores before each call).",
    )
    n_batch: int = Field(default=512, ge=8, description="Prompt-processing batch size.")
    temperature: float = Field(default=0.2, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy).")
    max_tokens: int = Field(default=256, ge=1, description="Most tokens generated per answer.")
    seed: int = Field(default=42, description="Sampling seed, so answers are reproducible.")
    llama_verbose: bool = Field(default=False, description="Show llama.cpp's own log output on stderr.")
    llm_backend: Literal["llamacpp", "openai"] = Field(
        default="llamacpp",
        description="Where the chat model runs: llamacpp (in this process) or openai (any OpenAI-compatible server).",
    )
    openai_base_url: str = Field(
        default="http://127.0.0.1:8080/v1",
        description="With llm_backend=openai: the server's /v1 URL (llama-server, vLLM, llama_cpp.server, ...).",
    )
    openai_model: str = Field(
        default="default", description="With llm_backend=openai: the model name the server expects."
    )
    openai_api_key: SecretStr | None = Field(
        default=None, description="With llm_backend=openai: the server's API key, if it needs one."
    )
    router: Literal["auto", "rules", "tools"] = Field(
        default="auto",
        description="Who picks the route: rules, tools (the chat model calls one of the routes as a tool), "
        "or auto (tools when the chat model has at least 1B parameters).",
    )
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="Embedding model for the knowledge base: a registry name, installed name or .gguf path.",
    )
    embeddings_backend: Literal["llamacpp", "openai"] = Field(
        default="llamacpp",
        description="Where the knowledge base's embeddings are computed: llamacpp (in this process, embedding_model) "
        "or openai (any OpenAI-compatible /v1/embeddings server).",
    )
    embeddings_base_url: str = Field(
        default="http://127.0.0.1:8081/v1",
        description="With embeddings_backend=openai: the embedding server's /v1 URL (llama-server --embedding, vLLM, "
        "Text Embeddings Inference, Infinity, llama_cpp.server --embedding true).",
    )
    embeddings_server_model: str = Field(
        default="default", description="With embeddings_backend=openai: the embedding model name the server expects."
    )
    embeddings_api_key: SecretStr | None = Field(
        default=None, description="With embeddings_backend=openai: the embedding server's API key, if it needs one."
    )
    collection: str = Field(default="default", description="Knowledge-base collection to ingest into and search.")
    chroma_host: str | None = Field(
        default=None, description="Chroma server host (`chroma run`); unset = the embedded store in DATA_DIR/chroma."
    )
    chroma_port: int = Field(default=8000, ge=1, le=65535, description="Chroma server port.")
    chroma_ssl: bool = Field(default=False, description="Use https to reach the Chroma server.")
    chroma_token: SecretStr | None = Field(
        default=None, description="Token for a Chroma server with token auth (sent as Authorization: Bearer)."
    )
    chunk_size: int = Field(default=800, ge=50, description="Characters per document chunk when ingesting.")
    chunk_overlap: int = Field(default=120, ge=0, description="Characters shared by neighbouring chunks.")
    top_k: int = Field(default=4, ge=1, le=50, description="Chunks retrieved per question.")
    relevance_threshold: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="Minimum relevance score (0..1) a chunk needs before an answer may rest on it (see docs/benchmarks.md, Retrieval).",
    )
    search_timeout_s: float = Field(
        default=6.0,
        gt=0,
        le=MAX_TIMEOUT_S,
        allow_inf_nan=False,
        description="Web search time limit per question, seconds.",
    )
    search_max_results: int = Field(default=5, ge=1, le=20, description="Web results used per question.")
    search_cache_ttl_s: int = Field(
        default=3600, ge=0, description="How long web results stay cached on disk, seconds."
    )
    math_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=MAX_TIMEOUT_S,
        allow_inf_nan=False,
        description="Hard time limit for one math evaluation, seconds.",
    )
    allow_unverified: bool = Field(
        default=False,
        description="After refusing an unsupported factual question, add the model's own answer, labelled unverified.",
    )
    system_prompt_file: str = Field(
        default="chat_system.txt", description="System prompt for the chat route, in prompts/."
    )
    prompts_dir: Path = Field(
        default_factory=_shipped_prompts_dir,
        description="Folder holding the prompt files (default: the prompts shipped inside the package).",
    )

    def __init__(self, **values: Any) -> None:
        # extra="ignore" lets a shared .env hold other variables; a misspelt keyword argument, though,
        # would silently keep the default, so keyword arguments must name real settings.
        unknown = sorted(key for key in values if not key.startswith("_") and key not in type(self).model_fields)
        if unknown:
            raise ConfigError(_unknown_settings_message(unknown, list(type(self).model_fields)))
        super().__init__(**values)

    @field_validator("collection", mode="after")
    @classmethod
    def _valid_collection(cls, value: str) -> str:
        # Checked here too, so `ask --collection "my notes" "2+2"` fails at once, not only when a
        # question reaches the knowledge base.
        try:
            return validate_collection_name(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("data_dir", "models_dir", "prompts_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        # `ORCH_DATA_DIR=` (or an empty line in .env) means "not set", not "the current folder".
        if isinstance(value, (str, bytes)) and not value.strip():
            field = cls.model_fields[str(info.field_name)]
            return field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        return value

    @field_validator("data_dir", "models_dir", "prompts_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Resolved once, here: a relative path means the folder it names from where settings are read, and
        # every later use (file URIs for SQLite, lock files, worker processes) then sees the same folder.
        return value.expanduser().resolve() if value is not None else None

    @property
    def resolved_models_dir(self) -> Path:
        """The models directory, defaulting to DATA_DIR/models."""
        return self.models_dir or self.data_dir / "models"

    @property
    def threads(self) -> int:
        """The thread budget: the setting, or every core (llama.cpp itself follows threads.py when unset)."""
        return self.n_threads or os.cpu_count() or 1

    @property
    def history_file(self) -> Path:
        """Where the chat REPL keeps its input history."""
        return self.data_dir / "chat_history"

    def prompt_text(self, filename: str) -> str:
        """Read one prompt file from the prompts folder."""
        path = self.prompts_dir / filename
        if not path.is_file():
            raise ConfigError(f"Prompt file {path} is missing; set ORCH_PROMPTS_DIR to the folder that holds it.")
        return path.read_text(encoding="utf-8").strip()

"""The CLI's test seam filled with fakes: the real commands run against a scripted model, no model file.

`orchestrator.cli.common.app_maker` is where every answering command (`ask`, `chat` and its /model,
`batch`, `serve`) gets its settings and its app. FakeModelAppMaker resolves no model file and builds
the real app with a recording fake chat model, word-hash embeddings (a real Chroma under the test's
data dir) and a web search that has no network. tests/conftest.py's `fake_model` fixture installs it.
"""

from __future__ import annotations

from typing import Any

from orchestrator.app import OrchestratorApp, build_app
from orchestrator.cli.common import AppMaker, load_settings
from orchestrator.config import Settings
from tests.helpers.fake_chat import ScriptedChatModel
from tests.helpers.word_hash import WordHashEmbeddings


class ModelFileTouched(AssertionError):
    """Something tried to resolve, pull or load a model file in a test that runs on the fake model."""


def no_network_search(query: str) -> Any:
    from orchestrator.tools.web_search import SearchUnavailable

    raise SearchUnavailable("no network (DNS failure) [test]")


class FakeModelAppMaker(AppMaker):
    """Settings as given (the model name is only a label) and apps built around the same fake components."""

    def __init__(self, chat_model: ScriptedChatModel, search: Any = no_network_search) -> None:
        self.chat_model = chat_model
        self.embeddings = WordHashEmbeddings()
        self.search = search
        self.built: list[Settings] = []  # the settings of every app the CLI built, in order

    def settings(self, model: str | None = None, collection: str | None = None) -> Settings:
        return load_settings(model=model, collection=collection)

    def app(self, settings: Settings) -> OrchestratorApp:
        self.built.append(settings)
        return build_app(settings, chat_model=self.chat_model, embeddings=self.embeddings, search=self.search)

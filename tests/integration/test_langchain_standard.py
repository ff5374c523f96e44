"""langchain-tests' standard suites against the LangChain components this project configures.

A standard test that the component cannot pass carries an xfail with the reason.
"""

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests, EmbeddingsIntegrationTests

from orchestrator import llm

pytestmark = pytest.mark.integration


class TestLocalChatModel(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _model_path(self, default_model_path):
        type(self)._path = str(default_model_path)

    @property
    def chat_model_class(self):
        return llm.chat_model_class()

    @property
    def chat_model_params(self) -> dict:
        return {
            "model_path": self._path,
            "n_ctx": 2048,
            "temperature": 0.0,
            "max_tokens": 48,
            "verbose": False,
            "seed": 42,
        }

    @property
    def has_tool_calling(self) -> bool:
        return False  # ChatLlamaCpp cannot do tool_choice="auto"; routing does not rely on it

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return False  # ChatLlamaCpp does not map llama.cpp's usage into usage_metadata

    @property
    def supports_model_override(self) -> bool:
        return False


class TestLocalEmbeddings(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _model_path(self, embedding_model_path):
        type(self)._path = str(embedding_model_path)

    @property
    def embeddings_class(self):
        return llm.embeddings_class()

    @property
    def embedding_model_params(self) -> dict:
        return {"model_path": self._path, "verbose": False}

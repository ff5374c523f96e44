"""Exceptions whose message tells the user what to change. The CLI prints them without a traceback."""


class OrchestratorError(Exception):
    """Base class: an error the user can act on."""


class ConfigError(OrchestratorError):
    """A setting or input is invalid."""


class ModelFileError(OrchestratorError):
    """A model file is missing, truncated or not a GGUF."""


class ModelNotFoundError(OrchestratorError):
    """A model name is neither in the registry, installed, nor a path."""


class PullError(OrchestratorError):
    """Fetching or building a registry model failed."""

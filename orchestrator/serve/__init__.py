"""The whole app (routing, tools, retrieval) as an OpenAI-compatible HTTP API, and the server runner.

Endpoints: POST /v1/chat/completions (JSON, or SSE when "stream": true), GET /v1/models,
GET /v1/models/{model}, GET /health.
The wire format follows OpenAI's chat completions API
(https://platform.openai.com/docs/api-reference/chat), so any OpenAI client or UI can talk to it.
Each response carries one extra field, "orchestrator": route, route_reason, sources, tool_calls,
abstained, error, latency_s.

Every error body has OpenAI's shape {"error": {"message", "type", "param", "code"}}, including the
server's own 400/404/405/413/431/429 answers. docs/serving.md describes the limits and figures.

The parts: schema.py (the OpenAI request and response shapes, validation), limits.py (ServeLimits,
bind, Host and key checks), lanes.py (admission to generate, the work lanes), protocol.py (the
guarded HTTP protocol and the uvicorn server), api.py (the FastAPI endpoints). FastAPI and uvicorn
are imported only by this package.
"""

from orchestrator.serve.api import create_api
from orchestrator.serve.lanes import GenerationGate
from orchestrator.serve.limits import (
    ServeLimits,
    allowed_hosts,
    bind_address,
    check_bind,
    default_allowed_hosts,
    host_allowed,
    is_loopback,
    key_matches,
)
from orchestrator.serve.protocol import run_server, server_config
from orchestrator.serve.schema import SERVED_MODEL, without_paths

__all__ = [
    "SERVED_MODEL",
    "GenerationGate",
    "ServeLimits",
    "allowed_hosts",
    "bind_address",
    "check_bind",
    "create_api",
    "default_allowed_hosts",
    "host_allowed",
    "is_loopback",
    "key_matches",
    "run_server",
    "server_config",
    "without_paths",
]

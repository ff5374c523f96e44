"""Web search against the REAL DuckDuckGo: whatever the network does, the call ends within timeout + 1 s.

The stand-in server tests are offline unit tests (tests/unit/test_web_search.py). This one touches the
real engine: with internet it may return results or be rate-limited; without (CI, sandboxes) it fails
on DNS or a dropped connection. Each outcome must be results or SearchUnavailable, in time.
"""

from __future__ import annotations

import time

import pytest

from orchestrator.tools.web_search import SearchUnavailable, web_search

pytestmark = pytest.mark.integration

TIMEOUT_S = 6.0  # the default of ORCH_SEARCH_TIMEOUT_S


def test_real_duckduckgo_answers_or_gives_up_within_the_deadline() -> None:
    start = time.monotonic()
    try:
        results = web_search("Who is the British Prime Minister?", timeout_s=TIMEOUT_S)
    except SearchUnavailable as exc:
        assert exc.reason  # e.g. "no network / DNS failure"
    else:
        assert results and all(result.url.startswith("http") for result in results)
    assert time.monotonic() - start <= TIMEOUT_S + 1.0

"""The runnable examples in the public API's docstrings run and give what they show."""

import doctest

import pytest

import orchestrator
import orchestrator.app


@pytest.mark.parametrize("module", [orchestrator, orchestrator.app])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

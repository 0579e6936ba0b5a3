"""The examples in the public docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lmerpy", "lmerpy.api", "lmerpy.anova", "lmerpy.datasets", "lmerpy.deviance",
    "lmerpy.design", "lmerpy.formula.parse", "lmerpy.chunked.passes",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

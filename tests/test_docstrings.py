"""The examples in the docstrings, in every module, run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lmerpy

MODULES = sorted(
    ["lmerpy"]
    + [
        m.name
        for m in pkgutil.walk_packages(lmerpy.__path__, "lmerpy.")
        if m.name != "lmerpy.__main__"
    ]
)


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_examples_cover_the_modular_steps() -> None:
    with_examples = {
        name for name in MODULES
        if doctest.DocTestFinder().find(importlib.import_module(name))
        and any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(name)))
    }  # fmt: skip
    for name in ["lmerpy.lmm.fit", "lmerpy.lmm.deviance", "lmerpy.design.build", "lmerpy.glmm.fit"]:
        assert name in with_examples, name

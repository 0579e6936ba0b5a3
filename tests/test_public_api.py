"""The public API is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import lmerpy


def test_public_names() -> None:
    assert sorted(dir(lmerpy)) == sorted(lmerpy.__all__)
    assert sorted(lmerpy.__all__) == [
        "ModelSpec",
        "errors",
        "parse_formula",
        "register_term_type",
    ]

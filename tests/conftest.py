"""Property-based tests draw the same examples on every run and machine: a test asserts what
holds everywhere, so the fuzzing that finds new cases is run by hand
(``HYPOTHESIS_PROFILE=explore``)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

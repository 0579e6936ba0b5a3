"""Saving a fit and restoring it on the data without optimizing again (MixedModels.jl's
saveoptsum / restoreoptsum!), with the objective re-checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lmerpy
from tests.fits import data, fit

FORMULA = "Reaction ~ Days + (Days | Subject)"


def test_a_restored_fit_is_the_fit(tmp_path: Path) -> None:
    original = fit(FORMULA, "sleepstudy")
    lmerpy.save_fit(original, tmp_path / "fit.json")
    restored = lmerpy.restore_fit(tmp_path / "fit.json", data("sleepstudy"))
    assert restored.objective == original.objective
    np.testing.assert_array_equal(restored.theta, original.theta)
    np.testing.assert_allclose(restored.fixef, original.fixef, rtol=1e-12)
    assert restored.record.evaluations == original.record.evaluations  # not optimized again


def test_a_fit_restores_on_data_read_in_chunks(tmp_path: Path) -> None:
    original = fit(FORMULA, "sleepstudy")
    lmerpy.save_fit(original, tmp_path / "fit.json")
    data("sleepstudy").to_parquet(tmp_path / "sleep.parquet")
    restored = lmerpy.restore_fit(tmp_path / "fit.json", tmp_path / "sleep.parquet")
    assert restored.objective == pytest.approx(original.objective, rel=1e-12)
    assert restored.nobs == 180


def test_restoring_on_other_data_is_refused(tmp_path: Path) -> None:
    lmerpy.save_fit(fit(FORMULA, "sleepstudy"), tmp_path / "fit.json")
    other = data("sleepstudy").assign(Reaction=lambda d: d["Reaction"] * 1.01)
    with pytest.raises(lmerpy.errors.FitError, match="does not match these data"):
        lmerpy.restore_fit(tmp_path / "fit.json", other)


def test_the_saved_file_holds_the_optimizer_record(tmp_path: Path) -> None:
    original = fit(FORMULA, "sleepstudy", reml=False)
    lmerpy.save_fit(original, tmp_path / "fit.json")
    saved = json.loads((tmp_path / "fit.json").read_text())
    assert saved["formula"] == FORMULA and saved["reml"] is False
    assert saved["record"]["final"] == original.record.final.tolist()
    assert saved["record"]["f_final"] == original.objective


def test_a_file_that_is_not_a_saved_fit_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(lmerpy.errors.DataError, match="not a fit saved by lmerpy"):
        lmerpy.restore_fit(tmp_path / "x.json", data("sleepstudy"))

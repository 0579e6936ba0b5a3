"""Progress bars: shown when asked for, silent otherwise, and a clear error without tqdm."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

import lmerpy
from lmerpy._util.progress import progress_bar
from tests.fits import data


def test_a_pass_and_a_fit_draw_bars_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    lmerpy.lmer(
        "Reaction ~ Days + (1 | Subject)", data("sleepstudy"), progress=True
    )  # in memory: no pass
    frame = data("sleepstudy")
    cp = lmerpy.cross_products(
        "Reaction ~ Days + (1 | Subject)", frame, batch_size=30, progress=True
    )
    lmerpy.lmer_cross_products(cp, progress=True)
    err = capsys.readouterr().err
    assert "lmerpy scan" in err and "lmerpy cross-products" in err and "lmerpy fit" in err


def test_nothing_is_drawn_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    lmerpy.cross_products("Reaction ~ Days + (1 | Subject)", data("sleepstudy"), batch_size=30)
    assert capsys.readouterr().err == ""


def test_asking_for_a_bar_without_tqdm_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = builtins.__import__

    def no_tqdm(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with (
        pytest.raises(lmerpy.errors.MissingDependencyError, match=r"lmerpy\[progress\]"),
        progress_bar(True, desc="x"),
    ):
        pass


def test_missing_optional_extras_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    real = builtins.__import__

    def without(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith(("pyarrow", "dask")):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    with pytest.raises(lmerpy.errors.MissingDependencyError, match=r"lmerpy\[parquet\]"):
        lmerpy.lmer("y ~ 1 + (1 | g)", str(tmp_path / "data.parquet"))
    from lmerpy.data.sources.dask import DaskSource

    with pytest.raises(lmerpy.errors.MissingDependencyError, match=r"lmerpy\[dask\]"):
        DaskSource(object(), None)


def test_the_core_needs_none_of_the_extras() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('pyarrow', 'dask', 'distributed', 'tqdm'): sys.modules[name] = None\n"
        "import lmerpy\n"
        "fit = lmerpy.lmer('Reaction ~ Days + (1 | Subject)', lmerpy.datasets.load('sleepstudy'))\n"
        "cp = lmerpy.cross_products('Reaction ~ Days + (1 | Subject)', lmerpy.datasets.load('sleepstudy'))\n"
        "print(round(fit.objective - lmerpy.lmer_cross_products(cp).objective, 6))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() in {"0.0", "-0.0"}

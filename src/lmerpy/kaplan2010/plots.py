"""Figures of the report (Kaplan 2010, *An Overview of Multilevel Regression*) and of any fit.

* ``fitted_lines``: each chosen group's data with the fitted line of one or more models
  (the report's Figures 1.1, 2.1-2.3 and 4.1);
* ``level1_bands``: the level-1 intervals of every group, by coefficient (Figure 3.1);
* ``caterpillar``: conditional modes with their intervals (R:
  ``lattice::dotplot(ranef(m, condVar = TRUE))``).

matplotlib is optional (``pip install 'lmerpy[plot]'``) and imported only when drawing.
Each function draws on the Axes it is given (one per panel) or on a new
``matplotlib.figure.Figure``, not registered with pyplot: save it with ``fig.savefig(path)``
or show it in a notebook with ``display(fig)``. Each returns the Figure.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ..errors import DataError, MatplotlibMissingError, MissingColumnError
from ..lmm.result import LmerResult
from .level1 import Level1Intervals
from .ols import OlsResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MatplotlibMissingError",
    "caterpillar",
    "fitted_lines",
    "have_matplotlib",
    "level1_bands",
    "require_matplotlib",
    "use_agg",
]

Fit = LmerResult | OlsResult
Intervals = Level1Intervals | pd.DataFrame
FloatArray = NDArray[np.float64]
INSTALL = "pip install 'lmerpy[plot]'"
_PALETTE = ["black", "tab:blue", "tab:red", "0.5", "tab:green", "tab:orange", "tab:purple"]
_BAND_STYLES: list[dict[str, Any]] = [
    {"color": "tab:blue", "alpha": 0.35, "linewidth": 4.0},
    {"color": "navy", "alpha": 0.9, "linewidth": 1.2},
    {"color": "tab:orange", "alpha": 0.9, "linewidth": 1.2},
]


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (figures can be drawn)."""
    return importlib.util.find_spec("matplotlib") is not None


def use_agg() -> None:
    """Select matplotlib's non-interactive Agg backend, for writing image files."""
    require_matplotlib().use("Agg")


def require_matplotlib() -> ModuleType:
    """The matplotlib module; ``MatplotlibMissingError`` saying how to install it if absent."""
    try:
        import matplotlib
    except ImportError:
        raise MatplotlibMissingError(f"drawing figures needs matplotlib: {INSTALL}") from None
    return matplotlib


# ---- Figures 1.1, 2.1-2.3, 4.1: fitted lines by group ------------------------------------------
def fitted_lines(
    fits: Mapping[str, Fit],
    data: pd.DataFrame,
    groups: Sequence[str],
    *,
    x: str,
    y: str,
    group: str,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
    ncols: int = 3,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Each chosen group's data with every model's fitted line, one panel per group
    (the report's Figures 1.1, 2.1-2.3 and 4.1; R: ``xyplot(y ~ x | group)`` with the
    fitted values ``fitted(m)`` of each model drawn through the group's points).

    Args:
        fits: model label -> an ``lm`` or ``lmer`` fit to ``data`` (same rows and index).
        data: the data the models were fitted to.
        groups: the levels of ``group`` to draw, one panel each, in this order.
        x, y: the predictor on the horizontal axis and the response.
        group: the grouping column.
        styles: model label -> matplotlib line keywords (color, linestyle, ...).
        ncols: panels per row of a new figure.
        ax: one Axes per group to draw on, instead of a new figure.

    Returns:
        The figure: per panel a scatter of the group's points and one line per model.
    """
    if not fits:
        raise DataError("fitted_lines needs at least one fit")
    labels = _group_labels(data, [x, y, group], group, groups)
    fig, axes, created = _layout(ax, len(groups), ncols, (3.4, 3.0), "group", share=True)
    for axis, level in zip(axes, groups, strict=True):
        rows = data.index[labels == str(level)]
        _group_panel(axis, data.loc[rows, [x, y]], fits, styles or {})
        axis.set(title=f"{group} {level}", xlabel=x, ylabel=y)
    if created:
        for axis in axes:
            axis.label_outer()
    _legend(fig, axes, created)
    return fig


def _group_labels(
    data: pd.DataFrame, columns: list[str], group: str, groups: Sequence[str]
) -> pd.Series:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    for column in columns:
        if column not in data.columns:
            raise MissingColumnError(f"column {column!r} is not in the data", column)
    labels = data[group].astype(str)
    missing = [str(g) for g in groups if str(g) not in set(labels)]
    if missing or not groups:
        raise DataError(f"no such {group} in the data: {', '.join(missing) or '(none given)'}")
    return labels


def _group_panel(
    axis: Axes, frame: pd.DataFrame, fits: Mapping[str, Fit], styles: Mapping[str, Any]
) -> None:
    x, y = frame.columns
    axis.scatter(frame[x], frame[y], s=9, color="0.55", alpha=0.8, linewidths=0, label="data")
    order = frame[x].sort_values(kind="stable").index
    for k, (label, fit) in enumerate(fits.items()):
        fitted = fit.fitted.reindex(order)
        if fitted.isna().all():
            raise DataError(f"the fit {label!r} was not fitted to these rows of the data")
        style = {"color": _PALETTE[k % len(_PALETTE)], "linewidth": 1.6, **styles.get(label, {})}
        axis.plot(frame.loc[order, x], fitted, label=label, **style)


# ---- Figure 3.1: level-1 intervals by group ----------------------------------------------------
class _Band(NamedTuple):
    label: str
    frame: pd.DataFrame  # group, term, lower, upper (and maybe estimate)


def level1_bands(
    intervals: Intervals | Mapping[str, Intervals],
    *,
    ols: pd.DataFrame | None = None,
    gamma: pd.Series | None = None,
    group_label: str = "group",
    clip: float | None = 5.0,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Every group's interval for each level-1 coefficient, one panel per coefficient,
    with the groups' OLS estimates β̂_j and the GLS γ̂ (the report's Figure 3.1, which
    plots its ``ci.mer.ak`` bands against γ̂₀₀, β̂₀ⱼ, γ̂₁₀ and β̂₁ⱼ; no R function).

    Args:
        intervals: a ``Level1Intervals``, or a frame with columns group, term, lower, upper
            (optionally estimate, drawn as a dash); or label -> either, to overlay sets.
        ols: β̂_j, a row per group and a column per term; by default the ``ols`` of the
            first ``Level1Intervals`` given (none for a frame).
        gamma: γ̂ by term, a horizontal line; by default that ``Level1Intervals``'s γ̂.
        group_label: the horizontal axis label (a ``Level1Intervals`` names its group).
        clip: set the vertical range by the intervals at most ``clip`` times the median
            width; the rest run off the panel and are listed in it. None shows all.
        ax: one Axes per coefficient to draw on, instead of a new figure.

    Returns:
        The figure: per panel, one set of vertical segments per interval set, the OLS
        points, the estimates' dashes and the γ̂ line.
    """
    bands = _bands(intervals)
    given = [iv for iv in _as_mapping(intervals).values() if isinstance(iv, Level1Intervals)]
    first = given[0] if given else None
    if first is not None:
        ols = first.ols if ols is None else ols
        gamma = first.gamma if gamma is None else gamma
        group_label = first.group if group_label == "group" else group_label
    terms = list(dict.fromkeys(bands[0].frame["term"]))
    fig, axes, created = _layout(ax, len(terms), 1, (12.0, 3.6), "coefficient")
    for axis, term in zip(axes, terms, strict=True):
        _band_panel(axis, bands, term, ols, gamma, clip)
        axis.set(title=term, xlabel=group_label, ylabel="coefficient")
    _legend(fig, axes, created)
    return fig


def _as_mapping(intervals: Intervals | Mapping[str, Intervals]) -> Mapping[str, Intervals]:
    if isinstance(intervals, Level1Intervals | pd.DataFrame):
        level = intervals.level if isinstance(intervals, Level1Intervals) else 0.95
        return {f"{level:.0%} interval": intervals}
    return intervals


def _bands(intervals: Intervals | Mapping[str, Intervals]) -> list[_Band]:
    bands = []
    for label, iv in _as_mapping(intervals).items():
        frame = iv.table if isinstance(iv, Level1Intervals) else iv
        missing = {"group", "term", "lower", "upper"} - set(frame.columns)
        if missing:
            raise DataError(f"the intervals need columns {', '.join(sorted(missing))}")
        bands.append(_Band(label, frame.astype({"group": str, "term": str})))
    if not bands:
        raise DataError("level1_bands needs at least one set of intervals")
    return bands


def _band_panel(
    axis: Axes,
    bands: list[_Band],
    term: str,
    ols: pd.DataFrame | None,
    gamma: pd.Series | None,
    clip: float | None,
) -> None:
    rows = [b.frame[b.frame["term"] == term].set_index("group") for b in bands]
    groups = list(rows[0].index)
    position = np.arange(len(groups), dtype=float)
    for k, (band, frame) in enumerate(zip(bands, rows, strict=True)):
        frame = frame.reindex(groups)
        style = _BAND_STYLES[k % len(_BAND_STYLES)]
        axis.vlines(position, frame["lower"], frame["upper"], label=band.label, **style)
    if "estimate" in rows[0].columns:
        estimate = rows[0]["estimate"]
        axis.scatter(position, estimate, marker="_", s=40, color="black", label=r"$\beta^*_j$")
    beta = None if ols is None else ols.reindex(groups)[term].to_numpy(dtype=np.float64)
    if beta is not None:
        axis.scatter(position, beta, s=12, color="tab:red", zorder=3, label=r"OLS $\hat\beta_j$")
    if gamma is not None:
        axis.axhline(
            float(gamma[term]), color="black", linestyle="--", linewidth=1, label=r"$\hat\gamma$"
        )
    axis.set_xticks(position, groups, fontsize=7, rotation=90)
    axis.set_xlim(-1, len(groups))
    _clip(axis, rows, [b.label for b in bands], groups, beta, clip)


def _clip(
    axis: Axes,
    rows: list[pd.DataFrame],
    labels: list[str],
    groups: list[str],
    beta: FloatArray | None,
    clip: float | None,
) -> None:
    """Vertical range from the ordinary intervals (width at most ``clip`` times the median)
    and OLS estimates (within ``clip`` median widths of their median); list the rest."""
    if clip is None:
        return
    lower = np.vstack([r.reindex(groups)["lower"].to_numpy(dtype=np.float64) for r in rows])
    upper = np.vstack([r.reindex(groups)["upper"].to_numpy(dtype=np.float64) for r in rows])
    width = upper - lower
    median = np.nanmedian(width, axis=1, keepdims=True)
    ordinary = width <= clip * median
    values = [lower[ordinary], upper[ordinary]]
    if beta is not None:
        values.append(beta[np.abs(beta - np.nanmedian(beta)) <= clip * float(np.min(median))])
    low, high = np.nanmin(np.concatenate(values)), np.nanmax(np.concatenate(values))
    pad = 0.06 * (high - low)
    low, high = low - pad, high + 2.5 * pad  # room for the note
    axis.set_ylim(low, high)
    notes = _off_scale(labels, groups, lower, upper, beta, (low, high))
    if notes:
        box = {"facecolor": "white", "edgecolor": "0.8"}
        text = "off scale — " + "; ".join(notes)
        axis.text(0.005, 0.97, text, transform=axis.transAxes, va="top", fontsize=7, bbox=box)


def _off_scale(
    labels: list[str],
    groups: list[str],
    lower: FloatArray,
    upper: FloatArray,
    beta: FloatArray | None,
    limits: tuple[float, float],
) -> list[str]:
    """What runs off the panel: per group, the interval of each set, the OLS estimate."""
    low, high = limits
    notes = []
    for j, name in enumerate(groups):
        parts = [
            f"{labels[k]} ({lower[k, j]:.2f}, {upper[k, j]:.2f})"
            for k in range(len(lower))
            if lower[k, j] < low or upper[k, j] > high
        ]
        if beta is not None and not low <= beta[j] <= high and np.isfinite(beta[j]):
            parts.append(rf"OLS $\hat\beta_j$ {beta[j]:.2f}")
        if parts:
            notes.append(f"{name}: {', '.join(parts)}")
    return notes


# ---- caterpillar plot of conditional modes ------------------------------------------------------
def caterpillar(
    fit: LmerResult,
    group: str,
    level: float = 0.95,
    *,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Conditional modes of one grouping factor's random effects with their intervals,
    ``mode ± z·sd``, one panel per term, levels sorted by the first term
    (R: ``lattice::dotplot(ranef(m, condVar = TRUE))[[group]]``).

    Args:
        fit: an lmer fit.
        group: one of its grouping factors.
        level: the intervals' confidence level (0.95: ±1.96 conditional sds).
        ax: one Axes per term to draw on, instead of a new figure.

    Returns:
        The figure: per panel one point and one horizontal segment per level.
    """
    if not isinstance(fit, LmerResult):
        raise DataError(f"caterpillar takes an lmer fit, not {type(fit).__name__}")
    if group not in fit.ranef:
        raise DataError(f"the fit has no grouping factor {group!r}; it has {', '.join(fit.ranef)}")
    if not 0 < level < 1:
        raise DataError(f"level must be strictly between 0 and 1, not {level!r}")
    modes = fit.ranef[group]
    sd = np.sqrt(np.einsum("jaa->ja", fit.ranef_condvar[group]))
    order = np.argsort(modes.iloc[:, 0].to_numpy(), kind="stable")
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    height = max(4.0, 0.13 * len(modes) + 1.2)
    fig, axes, _ = _layout(ax, modes.shape[1], modes.shape[1], (4.0, height), "term")
    for k, (axis, term) in enumerate(zip(axes, modes.columns, strict=True)):
        _caterpillar_panel(axis, modes[term].to_numpy()[order], z * sd[order, k], term)
        labels = [str(v) for v in modes.index[order]]
        axis.set_yticks(np.arange(len(labels)), labels if k == 0 else [], fontsize=6)
    axes[0].set_ylabel(group)
    return fig


def _caterpillar_panel(axis: Axes, mode: FloatArray, half: FloatArray, term: str) -> None:
    position = np.arange(len(mode))
    axis.axvline(0.0, color="0.6", linestyle=":", linewidth=1)
    axis.hlines(position, mode - half, mode + half, color="0.45", linewidth=1.2)
    axis.scatter(mode, position, s=10, color="black", zorder=3)
    axis.set(title=term, xlabel="conditional mode", ylim=(-1, len(mode)))


# ---- layout ------------------------------------------------------------------------------------
def _layout(
    ax: Axes | Sequence[Axes] | None,
    n: int,
    ncols: int,
    panel: tuple[float, float],
    what: str,
    share: bool = False,
) -> tuple[Figure, list[Axes], bool]:
    """The figure and one Axes per panel: the given ones, or a new grid."""
    require_matplotlib()
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if ax is None:
        ncols = max(1, min(ncols, n))
        nrows = -(-n // ncols)
        size = (panel[0] * ncols, panel[1] * nrows + 0.6)
        fig = Figure(figsize=size, layout="constrained")
        grid = fig.subplots(nrows, ncols, squeeze=False, sharex=share, sharey=share)
        for extra in grid.ravel()[n:]:
            fig.delaxes(extra)
        return fig, list(grid.ravel()[:n]), True
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise DataError(f"give one matplotlib Axes per {what}: {n} needed, {len(axes)} given")
    root = axes[0].figure
    return (root if isinstance(root, Figure) else root.figure), axes, False


def _legend(fig: Figure, axes: list[Axes], created: bool) -> None:
    """Below a new figure's panels; else in the first given Axes."""
    if not created:
        axes[0].legend(fontsize="small")
        return
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=len(names), frameon=False)

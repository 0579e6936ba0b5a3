"""Saving and loading: cross-products (``.npz``) and fits (``.json``).

A saved fit is what MixedModels.jl's ``saveoptsum`` writes: the model (formula, REML or ML,
weights column), θ and the optimizer record. ``restore_fit`` rebuilds the model on the data,
evaluates the objective at the saved θ and checks it against the saved value, as
``restoreoptsum!`` does, before assembling the fit without optimizing again.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import scipy.sparse as sp

from .crossprod import CrossProducts, Moments
from .errors import DataError, LmerpyError
from .optimize import OptimizerRecord

__all__ = [
    "load_cross_products",
    "record_from_json",
    "record_to_json",
    "save_cross_products",
]

FORMAT = "lmerpy-cross-products-1"
FIT_FORMAT = "lmerpy-fit-1"


# ---------------------------------------------------------------------------------------------
# Cross-products
# ---------------------------------------------------------------------------------------------


def save_cross_products(cp: CrossProducts, path: str | os.PathLike[str]) -> None:
    """Write cross-products to ``path`` (``.npz``)."""
    arrays: dict[str, Any] = {
        "format": np.array(FORMAT),
        "n": np.array(cp.n),
        "sum_log_w": np.array(cp.sum_log_w),
        "xy": cp.xy,
        "terms": np.array(len(cp.diag)),
        "schema": np.array("" if cp.schema is None else cp.schema.to_json()),
    }
    for i, (d, z) in enumerate(zip(cp.diag, cp.zxy, strict=True)):
        arrays[f"diag_{i}"], arrays[f"zxy_{i}"] = d, z
    for kind, blocks in (("off", cp.off), ("pairs", cp.pairs)):
        for (j, i), m in blocks.items():
            key = f"{kind}_{j}_{i}"
            arrays[f"{key}_data"], arrays[f"{key}_indices"] = m.data, m.indices
            arrays[f"{key}_indptr"], arrays[f"{key}_shape"] = m.indptr, np.array(m.shape)
    if cp.moments is not None:
        mo = cp.moments
        arrays["m_gram"], arrays["m_sums"] = mo.gram, mo.sums
        arrays["m_range"] = np.array([mo.y_min, mo.y_max])
        for i, (c, s) in enumerate(zip(mo.level_counts, mo.level_y, strict=True)):
            arrays[f"m_counts_{i}"], arrays[f"m_y_{i}"] = c, s
    try:
        with open(path, "wb") as out:
            np.savez(out, **arrays)
    except OSError as exc:
        raise DataError(f"cannot write the cross-products to {os.fspath(path)!r}: {exc}") from None


def load_cross_products(path: str | os.PathLike[str]) -> CrossProducts:
    """Read cross-products written by ``save_cross_products``."""
    from .chunked.schema import Schema

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read cross-products from {os.fspath(path)!r}: {exc}") from None
    if str(arrays.get("format", "")) != FORMAT:
        raise DataError(f"{os.fspath(path)!r} is not a file of lmerpy cross-products")
    k = int(arrays["terms"])
    text = str(arrays["schema"])
    return CrossProducts(
        n=int(arrays["n"]),
        sum_log_w=float(arrays["sum_log_w"]),
        diag=tuple(arrays[f"diag_{i}"] for i in range(k)),
        off=_sparse(arrays, "off"),
        pairs=_sparse(arrays, "pairs"),
        zxy=tuple(arrays[f"zxy_{i}"] for i in range(k)),
        xy=arrays["xy"],
        moments=_moments(arrays, k),
        schema=Schema.from_json(text) if text else None,
    )


def _sparse(arrays: dict[str, Any], kind: str) -> dict[tuple[int, int], sp.csr_matrix]:
    out = {}
    for key in arrays:
        if key.startswith(f"{kind}_") and key.endswith("_shape"):
            _, j, i, _ = key.split("_")
            stem = f"{kind}_{j}_{i}"
            rows, cols = (int(s) for s in arrays[key])
            parts = (arrays[f"{stem}_data"], arrays[f"{stem}_indices"], arrays[f"{stem}_indptr"])
            out[(int(j), int(i))] = sp.csr_matrix(parts, shape=(rows, cols))
    return out


def _moments(arrays: dict[str, Any], k: int) -> Moments | None:
    if "m_gram" not in arrays:
        return None
    low, high = (float(v) for v in arrays["m_range"])
    return Moments(
        arrays["m_gram"],
        arrays["m_sums"],
        low,
        high,
        tuple(arrays[f"m_counts_{i}"] for i in range(k)),
        tuple(arrays[f"m_y_{i}"] for i in range(k)),
    )


# ---------------------------------------------------------------------------------------------
# Optimizer records
# ---------------------------------------------------------------------------------------------


def record_to_json(record: OptimizerRecord) -> dict[str, Any]:
    """An optimizer record as JSON-ready values (MixedModels.jl's ``saveoptsum``)."""
    return {
        "initial": record.initial.tolist(),
        "f_initial": record.f_initial,
        "final": record.final.tolist(),
        "f_final": record.f_final,
        "lower": [float(v) for v in record.lower],
        "upper": [_finite_or_text(v) for v in record.upper],
        "evaluations": record.evaluations,
        "optimizer": record.optimizer,
        "converged": record.converged,
        "messages": list(record.messages),
    }


def record_from_json(data: dict[str, Any]) -> OptimizerRecord:
    """The record ``record_to_json`` wrote."""
    try:
        return OptimizerRecord(
            initial=np.asarray(data["initial"], dtype=np.float64),
            f_initial=float(data["f_initial"]),
            final=np.asarray(data["final"], dtype=np.float64),
            f_final=float(data["f_final"]),
            lower=np.asarray(data["lower"], dtype=np.float64),
            upper=np.asarray([float(v) for v in data["upper"]], dtype=np.float64),
            evaluations=int(data["evaluations"]),
            optimizer=str(data["optimizer"]),
            converged=bool(data["converged"]),
            messages=tuple(data["messages"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LmerpyError(f"the saved optimizer record is incomplete: {exc}") from None


def _finite_or_text(value: float) -> float | str:
    return float(value) if np.isfinite(value) else str(float(value))


def write_json(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"format": FIT_FORMAT, **data}, out, indent=1)
    except OSError as exc:
        raise DataError(f"cannot write the fit to {os.fspath(path)!r}: {exc}") from None


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as source:
            data = json.load(source)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read a saved fit from {os.fspath(path)!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FIT_FORMAT:
        raise DataError(f"{os.fspath(path)!r} is not a fit saved by lmerpy")
    return data

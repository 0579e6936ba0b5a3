"""The spherical random effects u from b = Λu (glmm/effects.py), which carries PIRLS's warm
start to a new θ."""

from __future__ import annotations

import numpy as np

from lmerpy.glmm.effects import spherical


def test_spherical_effects_invert_lambda_term_by_term() -> None:
    rng = np.random.default_rng(2)
    T2 = np.array([[1.3, 0.0], [0.4, 0.6]])
    T1 = np.array([[0.7]])
    u2, u1 = rng.normal(size=(5, 2)), rng.normal(size=3)
    b = np.concatenate([(u2 @ T2.T).ravel(), 0.7 * u1])  # each level's b = T u, level-major
    u = spherical([T2, T1], b, [5, 3])
    assert u is not None
    np.testing.assert_allclose(u, np.concatenate([u2.ravel(), u1]), rtol=1e-13)


def test_a_singular_lambda_gives_no_spherical_effects() -> None:
    """b = Λu loses u where a diagonal of Λ is zero (a variance at zero)."""
    T = np.array([[1.0, 0.0], [0.5, 0.0]])
    assert spherical([T], np.ones(4), [2]) is None
    assert spherical([np.array([[0.0]])], np.ones(3), [3]) is None

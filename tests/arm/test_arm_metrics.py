"""Hypervolume, MIP, monotonicity and the λ grid on hand-made point sets."""

import numpy as np
import pytest

from credo.arm.metrics import hypervolume, lambda_grid, mip, monotonicity


def test_hypervolume_2d_staircase():
    pts = np.array([[1, 3], [2, 2], [3, 1]], dtype=float)
    assert hypervolume(pts, np.array([0.0, 0.0])) == pytest.approx(1 * 3 + 1 * 2 + 1 * 1)
    more = np.vstack([pts, [[1, 1], [-1, 5]]])  # a dominated point and one below the reference add nothing
    assert hypervolume(more, np.array([0.0, 0.0])) == pytest.approx(6.0)
    assert hypervolume(pts, np.array([1.0, 1.0])) == pytest.approx(1.0)  # only (2, 2) is strictly above (1, 1)


def test_hypervolume_3d_union_of_boxes():
    assert hypervolume(np.array([[1.0, 2.0, 3.0]]), np.zeros(3)) == pytest.approx(6.0)
    # boxes 1×1×1 and 2×0.5×0.5 overlap in 1×0.5×0.5
    pts = np.array([[1.0, 1.0, 1.0], [2.0, 0.5, 0.5]])
    assert hypervolume(pts, np.zeros(3)) == pytest.approx(1.0 + 0.5 - 0.25)


def test_mip_and_monotonicity():
    lams = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    pts = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    assert mip(lams, pts) == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    assert mip(lams, pts[::-1]) == pytest.approx((0.0 + 0.5 + 0.0) / 3)
    # explicit bounds: objective 0 scaled by [0, 2], objective 1 by [0, 1]
    assert mip(lams, pts, low=np.array([0.0, 0.0]), high=np.array([2.0, 1.0])) == pytest.approx((0.5 + 0.375 + 1) / 3)
    assert monotonicity(lams, pts) == pytest.approx([1.0, 1.0])
    assert monotonicity(lams, pts[::-1]) == pytest.approx([-1.0, -1.0])


def test_lambda_grid_points_lie_on_the_simplex():
    g = lambda_grid(2, 11)
    assert g.shape == (11, 2) and g[0].tolist() == [1.0, 0.0] and g[-1].tolist() == [0.0, 1.0]
    g3 = lambda_grid(3, 11)
    assert len(g3) >= 11 and np.allclose(g3.sum(1), 1.0) and (g3 >= 0).all()

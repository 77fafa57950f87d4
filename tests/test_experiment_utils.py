"""The helpers experiment scripts share, against values worked out by hand."""

import math

import pytest
import torch

from credo.experiment_utils import (
    auroc,
    int_list,
    inverse_cdf,
    mean_ci95,
    mean_sd,
    mean_se,
    pearson,
    ranks,
    spearman,
)


def test_int_list_reads_ranges_and_comma_lists():
    assert int_list("0-3") == [0, 1, 2, 3]
    assert int_list("7") == [7]
    assert int_list("16,32") == [16, 32]
    assert int_list("0-2,7") == [0, 1, 2, 7]
    with pytest.raises(ValueError):
        int_list("a-b")


def test_inverse_cdf_picks_the_first_index_whose_cumulative_weight_reaches_u():
    # weights 2, 3, 5 (total 10): cumulative 2, 5, 10, so u·10 in (0, 2] -> 0, (2, 5] -> 1, (5, 10] -> 2
    w = torch.tensor([[2.0, 3.0, 5.0]], dtype=torch.float64)
    u = torch.tensor([[0.05, 0.2, 0.21, 0.45, 0.51, 0.99]], dtype=torch.float64)
    assert inverse_cdf(w, u).tolist() == [[0, 0, 1, 1, 2, 2]]
    assert inverse_cdf(w / 10, u).tolist() == [[0, 0, 1, 1, 2, 2]]  # normalised or not
    assert inverse_cdf(w, torch.tensor([[1.5]], dtype=torch.float64)).tolist() == [[2]]  # never past the last index


def test_inverse_cdf_draws_each_index_in_proportion_to_its_weight_per_row():
    """1000 evenly spaced uniforms per row give exactly 1000·p draws of each index; rows are independent."""
    probs = torch.tensor([[0.2, 0.3, 0.5], [0.5, 0.0, 0.5]], dtype=torch.float64)
    u = ((torch.arange(1000, dtype=torch.float64) + 0.5) / 1000).expand(2, 1000)
    draws = inverse_cdf(probs, u)
    assert draws.shape == (2, 1000) and draws.dtype == torch.long
    assert torch.bincount(draws[0], minlength=3).tolist() == [200, 300, 500]
    assert torch.bincount(draws[1], minlength=3).tolist() == [500, 0, 500]
    one = inverse_cdf(probs, torch.tensor([[0.1], [0.9]], dtype=torch.float64))  # one draw per row: [..., 1]
    assert one.tolist() == [[0], [2]]


def test_mean_sd_and_mean_se_cells():
    # 1, 2, 3: mean 2, sample sd 1, standard error 1/sqrt(3) = 0.577
    assert mean_sd([1.0, 2.0, 3.0]) == "2.000 ± 1.000"
    assert mean_sd((x for x in [1.0, 2.0, 3.0]), ".1f") == "2.0 ± 1.0"
    assert mean_sd([0.25]) == "0.250" and mean_sd([]) == "–"
    assert mean_se([1.0, 2.0, 3.0]) == "2.000 ± 0.577"
    assert mean_se([0.25]) == "0.250"


def test_pearson_spearman_and_tied_ranks_on_hand_values():
    # x = 1,2,3,4 and y = 2,4,5,9: dx = -1.5,-.5,.5,1.5, dy = -3,-1,0,4 → Σdxdy = 11, Σdx² = 5, Σdy² = 26
    assert math.isclose(pearson([1, 2, 3, 4], [2, 4, 5, 9]), 11 / math.sqrt(5 * 26))
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert ranks([3, 1, 3, 2]).tolist() == [2.5, 0.0, 2.5, 1.0]
    # monotone but not linear → Spearman 1; one swap of adjacent ranks among 4 → 1 - 6·2/(4·15) = 0.8
    assert math.isclose(spearman([1, 2, 3, 4], [1, 8, 27, 64]), 1.0)
    assert math.isclose(spearman([1, 2, 3, 4], [1, 3, 2, 4]), 0.8)


def test_auroc_counts_ties_as_half():
    # pairs (p, q): (3,1) > , (3,3) tie, (2,1) >, (2,3) <  → (1 + 0.5 + 1 + 0) / 4
    assert auroc([3, 2], [1, 3]) == 0.625
    assert auroc([1], [2]) == 0.0 and math.isnan(auroc([], [1]))
    # against counting every pair on a larger tied sample
    pos, neg = [0.1 * (i % 7) for i in range(40)], [0.1 * (i % 5) for i in range(30)]
    pairs = [(p > q) + 0.5 * (p == q) for p in pos for q in neg]
    assert math.isclose(auroc(pos, neg), sum(pairs) / len(pairs))


def test_mean_ci95_uses_student_t():
    # 1, 2, 3: mean 2, sd 1, n 3 → half-width t(0.975, 2) / sqrt(3) = 4.303 / 1.7321 = 2.4843
    m, lo, hi = mean_ci95([1.0, 2.0, 3.0])
    assert m == 2.0 and math.isclose(hi - m, 4.303 / math.sqrt(3)) and math.isclose(m - lo, hi - m)
    assert mean_ci95([0.5])[0] == 0.5 and math.isnan(mean_ci95([0.5])[1])
    with pytest.raises(ValueError, match="12 values"):
        mean_ci95(range(12))

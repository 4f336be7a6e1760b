"""The expected best of n trials (Dodge et al. 2019) against a hand-worked case and brute force."""

import itertools
import math
import statistics

import pytest

from nncmp.tuning.budget import curve, expected_max, weights

pytestmark = pytest.mark.fast


def test_a_hand_worked_case():
    # Scores 0.2, 0.5, 0.9. Best of 2 draws with replacement: 9 equally likely pairs; the max is 0.2 once,
    # 0.5 three times, 0.9 five times: (0.2 + 1.5 + 4.5) / 9.
    mean, sd = expected_max([0.5, 0.9, 0.2], 2)
    assert mean == pytest.approx(6.2 / 9)
    second = (0.04 + 3 * 0.25 + 5 * 0.81) / 9
    assert sd == pytest.approx(math.sqrt(second - (6.2 / 9) ** 2))
    assert expected_max([0.5, 0.9, 0.2], 1)[0] == pytest.approx(statistics.mean([0.5, 0.9, 0.2]))
    assert weights(3, 2) == pytest.approx([1 / 9, 3 / 9, 5 / 9])


@pytest.mark.parametrize("scores", [[0.3, 0.7, 0.1, 0.7, 0.9], [1.0, 2.0, 3.0, 4.0], [-2.5, -0.5, -1.0]])
def test_against_every_draw_enumerated(scores):
    n_scores = len(scores)
    for n in range(1, n_scores + 2):
        draws = [max(d) for d in itertools.product(scores, repeat=n)]  # every ordered draw, equally likely
        mean, sd = expected_max(scores, n)
        assert mean == pytest.approx(statistics.mean(draws))
        assert sd == pytest.approx(statistics.pstdev(draws), abs=1e-12)


def test_the_curve_rises_to_the_best_trial():
    scores = [0.1, 0.4, 0.35, 0.8, 0.6]
    points = curve(scores)
    means = [m for _, m, _ in points]
    assert [n for n, _, _ in points] == [1, 2, 3, 4, 5]
    assert all(a <= b for a, b in zip(means, means[1:])) and means[-1] < max(scores)
    assert expected_max(scores, 500)[0] == pytest.approx(max(scores), abs=1e-9)
    assert expected_max([0.7] * 4, 3) == (pytest.approx(0.7), pytest.approx(0.0, abs=1e-7))
    with pytest.raises(ValueError):
        expected_max([], 1)

"""Each strategy's arithmetic against a hand computation on small vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.fusion.strategies import (
    best_similarity,
    choose_fusion_space,
    early_vector,
    late_fuse,
    late_max,
    late_weighted_sum,
    projection_matrix,
    ranks,
    reciprocal_rank_fusion,
    weighted_mean,
)

S = "space"


def test_weighted_mean_normalises_each_vector_then_the_weighted_sum() -> None:
    text, image = np.array([3.0, 0.0]), np.array([0.0, 2.0])
    fused = weighted_mean({"text": text, "image": image}, {"text": 3.0, "image": 1.0})
    # n(3 * [1, 0] + 1 * [0, 1]) = [3, 1] / sqrt(10)
    assert fused == pytest.approx([3 / math.sqrt(10), 1 / math.sqrt(10)])


def test_early_vector_concatenates_weighted_blocks_in_fixed_modality_order() -> None:
    vectors = {"text": np.array([1.0, 0.0]), "image": np.array([0.0, 5.0]), "audio": np.array([1.0, 1.0])}
    joint = early_vector(vectors, {"text": 4.0, "image": 1.0, "audio": 1.0})
    # blocks sqrt(w) * n(v): [2, 0], [0, 1], [1/sqrt2, 1/sqrt2]; squared norm 4 + 1 + 1 = 6
    expected = np.array([2.0, 0.0, 0.0, 1.0, 1 / math.sqrt(2), 1 / math.sqrt(2)]) / math.sqrt(6)
    assert joint == pytest.approx(expected)


def test_early_vector_imputes_a_missing_block_with_the_mean_of_the_present_ones() -> None:
    joint = early_vector({"text": np.array([1.0, 0.0]), "audio": np.array([0.0, 1.0])}, {})
    mean = np.array([1.0, 1.0]) / math.sqrt(2)
    expected = np.concatenate([[1.0, 0.0], mean, [0.0, 1.0]]) / math.sqrt(3)
    assert joint == pytest.approx(expected)


def test_early_cosine_is_the_weight_averaged_block_cosine() -> None:
    query = {"text": np.array([1.0, 0.0]), "image": np.array([0.0, 1.0]), "audio": np.array([1.0, 0.0])}
    item = {"text": np.array([1.0, 0.0]), "image": np.array([1.0, 0.0]), "audio": np.array([1.0, 0.0])}
    weights = {"text": 2.0, "image": 1.0, "audio": 1.0}
    score = float(early_vector(query, weights) @ early_vector(item, weights))
    # (2 * 1 + 1 * 0 + 1 * 1) / (2 + 1 + 1)
    assert score == pytest.approx(3 / 4)


def test_projection_is_seeded_and_keeps_cosines_roughly() -> None:
    first, again = projection_matrix(300, 256, seed=7), projection_matrix(300, 256, seed=7)
    assert np.array_equal(first, again) and first.shape == (256, 300)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(100), rng.standard_normal(100)
    b = a + 0.5 * b
    vectors_a, vectors_b = {"text": a}, {"text": b}
    plain = float(early_vector(vectors_a, {}) @ early_vector(vectors_b, {}))
    projected = float(early_vector(vectors_a, {}, first) @ early_vector(vectors_b, {}, first))
    assert projected == pytest.approx(plain, abs=0.1)


def test_late_weighted_sum_and_max() -> None:
    scores, weights = {"text": 0.8, "image": 0.2}, {"text": 1.0, "image": 3.0}
    assert late_weighted_sum(scores, weights) == pytest.approx((0.8 + 0.6) / 4)
    assert late_max(scores, weights) == pytest.approx(0.8)  # max(1 * 0.8, 3 * 0.2)
    assert late_max(scores, {"image": 5.0}) == pytest.approx(1.0)  # max(0.8, 5 * 0.2)


def test_reciprocal_rank_fusion_by_hand() -> None:
    rankings = {"text": ranks({"a": 0.9, "b": 0.5, "c": 0.1}), "image": ranks({"b": 0.7, "c": 0.6})}
    fused = reciprocal_rank_fusion(rankings, {"image": 2.0}, k=60)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 2 / 61)
    assert fused["c"] == pytest.approx(1 / 63 + 2 / 62)


def test_late_fuse_counts_an_unscored_modality_as_zero() -> None:
    fused = late_fuse({"text": {"a": 0.5, "b": 0.4}, "audio": {"b": 0.6}}, "weighted_sum", {}, 60)
    assert fused == pytest.approx({"a": 0.25, "b": 0.5})
    assert late_fuse({"text": {"a": 0.5}, "audio": {"b": 0.6}}, "max", {"audio": 0.5}, 60) == \
        pytest.approx({"a": 0.5, "b": 0.3})


def test_best_similarity_uses_the_first_shared_space_only() -> None:
    query = {"text-space": np.array([1.0, 0.0]), "own-space": np.array([0.0, 1.0])}
    item = {"image": {"text-space": np.array([1.0, 1.0]), "own-space": np.array([0.0, 1.0])},
            "text": {"text-space": np.array([0.0, 1.0])}}
    # In the text space: max(cos([1,0],[1,1]), cos([1,0],[0,1])) = 1/sqrt2; the own space (1.0) is not used.
    assert best_similarity(query, item) == pytest.approx(1 / math.sqrt(2))
    assert best_similarity(query, {"audio": {"own-space": np.array([0.0, 2.0])}}) == pytest.approx(1.0)
    assert best_similarity(query, {"audio": {"elsewhere": np.array([1.0])}}) is None


def test_fusion_space_is_the_most_shared_then_the_preferred() -> None:
    features = {"text": {"t": np.ones(2)}, "image": {"i": np.ones(2), "t": np.ones(2)}, "audio": {"a": np.ones(2)}}
    assert choose_fusion_space(features) == "t"
    assert choose_fusion_space({"image": {"i": np.ones(2), "t": np.ones(2)}}, preferred=["t", "i"]) == "t"
    assert choose_fusion_space({}) is None

"""HMSA's similarity is a cosine: it does not depend on the features' scale, down to tiny
norms (the normalisation's epsilon is far below them), and a zero vector gives 0.5, not nan."""

from __future__ import annotations

import pytest
import torch

from xemap.models.xemap_network.hmsa import hmsa_map


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-8, 1e-10])
def test_tiny_features_give_the_cosine_map(scale):
    # pixels e0, -e0, e1 and 0 (1 x 4), the query e0: cosines 1, -1, 0 and none
    text = torch.tensor([[[3.0, 0.0]]]) * scale
    level = torch.tensor([[[[1.0, -1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, 0.0]]]]) * scale
    out = hmsa_map(text, torch.ones(1, 1), [level], (1, 4))
    torch.testing.assert_close(out, torch.tensor([[[1.0, 0.0, 0.5, 0.5]]]), rtol=0, atol=1e-6)


def test_a_zero_query_gives_one_half_everywhere_not_nan():
    level = torch.randn(2, 8, 3, 5)
    out = hmsa_map(torch.zeros(2, 1, 8), torch.ones(2, 1), [level], (6, 10))
    assert torch.equal(out, torch.full((2, 6, 10), 0.5))

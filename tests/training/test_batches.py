"""batches.rows: index_select in place of advanced indexing, the same tensor for every shape the engines use."""

import torch

from nncmp.training.batches import rows


def test_rows_equal_advanced_indexing():
    g = torch.Generator().manual_seed(0)
    idx, stacked = torch.randperm(50, generator=g)[:8], torch.randint(0, 50, (3, 8), generator=g)
    for t in (torch.randn(50, 784, generator=g), torch.randn(50, 1, 8, 8, generator=g),
              torch.randint(0, 10, (50,), generator=g), torch.randint(0, 10, (50, 12), generator=g)):
        for i in (idx, stacked):
            got = rows(t, i)
            assert got.shape == t[i].shape and got.dtype == t.dtype
            assert torch.equal(got, t[i])

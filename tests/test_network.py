import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("performer_pytorch")

from tis_transformer.network import NetworkConfig, TISNetwork, pad_batch  # noqa: E402

pytestmark = pytest.mark.train

TINY = dict(dim=16, depth=2, heads=2, dim_head=8, local_attn_heads=1, local_window_size=32,
            nb_features=16, ff_chunks=1)


def tiny_network(seed=0, **overrides):
    torch.manual_seed(seed)
    network = TISNetwork(NetworkConfig(**{**TINY, **overrides}))
    network.eval()
    network.fix_projections()
    return network


def test_defaults_are_the_original_architecture():
    c = NetworkConfig()
    assert (c.dim, c.depth, c.heads, c.dim_head, c.local_attn_heads, c.local_window_size) == (30, 6, 6, 16, 4, 256)
    assert (c.nb_features, c.feature_redraw_interval, c.ff_chunks) == (80, 100, 10)
    assert c.generalized_attention and c.ff_glu and c.reversible
    assert (c.emb_dropout, c.ff_dropout, c.attn_dropout) == (0.1, 0.1, 0.1)


def test_output_shape():
    network = tiny_network()
    out = network(torch.randint(0, 4, (3, 50)))
    assert out.shape == (3, 50, 1)


def test_batched_scores_equal_single_scores():
    # padded keys are masked in global and local attention, so padding cannot leak
    network = tiny_network()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 5, n) for n in (37, 100, 250)]
    with torch.no_grad():
        alone = [network(torch.as_tensor(s)[None])[0, :, 0] for s in seqs]
        batched = network(pad_batch(seqs))[..., 0]
    for i, s in enumerate(seqs):
        assert torch.allclose(batched[i, : len(s)], alone[i], atol=1e-5)


def test_stock_performer_leaks_padding_but_ours_does_not():
    # the reason for KeyMaskedSelfAttention: with stock attention the score moves with padding
    from performer_pytorch.performer_pytorch import SelfAttention

    network = tiny_network(local_attn_heads=0)
    seq = torch.randint(0, 4, (1, 60))
    padded = torch.cat([seq, torch.full((1, 200), 5)], dim=1)
    with torch.no_grad():
        ours = (network(seq)[0, :, 0] - network(padded)[0, :60, 0]).abs().max()
        for m in network.modules():
            if isinstance(m, SelfAttention):
                m.__class__ = SelfAttention
        stock = (network(seq)[0, :, 0] - network(padded)[0, :60, 0]).abs().max()
    assert ours < 1e-5
    assert stock > 1e-3

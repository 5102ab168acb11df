import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("performer_pytorch")

from tis_transformer.training.network import NetworkConfig, TISNetwork, pad_batch  # noqa: E402

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


def test_trees_blend_with_the_feature_head_at_atgs_only():
    from tis_transformer.predictor.features import FEATURE_NAMES

    n = len(FEATURE_NAMES)
    network = tiny_network(n_features=n, feature_head=8, tree_blend=0.25)
    assert network.config.input_columns == n + 1 and network.tree_scorer() is None  # none fitted yet
    with torch.no_grad():
        network.non_atg_logit_shift.fill_(-3.0)
    features = torch.rand(2, 40, n + 1)
    is_atg = torch.rand(2, 40) < 0.3
    features[..., FEATURE_NAMES.index("is_atg")] = is_atg.float()
    features[..., n] = torch.randn(2, 40) * 5 * is_atg  # the trees' logit, 0 where no ATG starts
    with torch.no_grad():
        head = network.feature_head((features[..., :n] - network.feature_shift) * network.feature_scale)[..., 0]
        blended = network.feature_logits(features)[..., 0]
        scores = network(torch.randint(0, 4, (2, 40)), features=features)
    torch.testing.assert_close(blended[is_atg], 0.75 * head[is_atg] + 0.25 * features[..., n][is_atg])
    torch.testing.assert_close(blended[~is_atg], head[~is_atg] - 3.0)
    assert scores.shape == (2, 40, 1)
    # the Performer's feature embedding reads the reading-frame columns only
    plain = tiny_network(n_features=n, feature_head=8)
    assert plain.config.input_columns == n and plain.feature_emb.in_features == network.feature_emb.in_features == n
    with pytest.raises(ValueError, match="tree_blend needs a feature head"):
        TISNetwork(NetworkConfig(**TINY, n_features=n, tree_blend=0.5))
    with pytest.raises(ValueError, match="blends no trees"):
        plain.set_trees(b"")


def test_non_start_shift_lowers_positions_that_start_no_atg_or_near_cognate_codon():
    from tis_transformer.predictor.features import FEATURE_NAMES, IS_ATG_COLUMN, NEAR_COGNATE_COLUMN

    n = len(FEATURE_NAMES)
    network = tiny_network(n_features=n, feature_head=8)
    features = torch.rand(1, 30, n)
    kind = torch.arange(30) % 3  # 0: ATG, 1: near-cognate, 2: neither
    features[..., IS_ATG_COLUMN] = (kind == 0).float()
    features[..., NEAR_COGNATE_COLUMN] = (kind == 1).float()
    with torch.no_grad():
        before = network.feature_logits(features)[0, :, 0]
        network.non_start_logit_shift.fill_(-4.0)
        after = network.feature_logits(features)[0, :, 0]
    torch.testing.assert_close(after - before, torch.where(kind == 2, -4.0, 0.0))

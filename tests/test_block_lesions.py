"""Test-time lesions (classicnets.analysis.block_lesions): deleting and reordering blocks changes exactly what it
should, a deleted residual block is the identity on its input, and the original model comes back exactly."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from classicnets.analysis.block_lesions import (
    block_table,
    deletable,
    delete_blocks,
    deleted,
    kendall_tau,
    random_deletions,
    random_swaps,
    reorder_blocks,
    reordered,
    swappable_pairs,
)
from classicnets.errors import InvalidInputError
from classicnets.models import create_model
from classicnets.models.resnet import ZeroPadShortcut


def _net(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    m = create_model(name, in_chans=1)
    # non-trivial BN statistics, so eval mode is not the identity on the branch
    with torch.no_grad():
        m.train()
        for _ in range(2):
            m(torch.randn(16, 1, 8, 8))
    return m.eval()


def _snapshot(m: torch.nn.Module) -> tuple[dict, list, list]:
    state = {k: v.clone() for k, v in m.state_dict().items()}
    slots = [(stage, pos, stage[pos]) for stage in (m.layer1, m.layer2, m.layer3) for pos in range(len(stage))]
    flags = [b.residual_enabled for _, _, b in slots]
    return state, slots, flags


def _assert_restored(m: torch.nn.Module, snap: tuple[dict, list, list], x: torch.Tensor, y0: torch.Tensor) -> None:
    state, slots, flags = snap
    now = m.state_dict()
    assert list(now) == list(state), "state_dict keys changed"
    for k, v in state.items():
        assert torch.equal(now[k], v), f"{k} changed"
    for (stage, pos, b), flag in zip(slots, flags, strict=True):
        assert stage[pos] is b, f"slot {pos} holds another module"
        assert b.residual_enabled == flag
    with torch.no_grad():
        assert torch.equal(m(x), y0), "the restored model computes something else"


def test_block_table_of_resnet20() -> None:
    t = block_table(create_model("resnet20"))
    assert [b.name for b in t] == [f"layer{s}.{i}" for s in (1, 2, 3) for i in range(3)]
    assert [b.index for b in t if b.is_downsampling] == [3, 6]
    assert [b.identity_shortcut for b in t] == [True, True, True, False, True, True, False, True, True]
    assert deletable(create_model("resnet20")) == list(range(9))
    assert deletable(create_model("resnet20"), keep_shape=True) == [0, 1, 2, 4, 5, 7, 8]
    assert deletable(create_model("plain20")) == [0, 1, 2, 4, 5, 7, 8]
    # same-shape pairs: 3 in layer1, one in layer2 (4, 5), one in layer3 (7, 8)
    assert swappable_pairs(t) == [(0, 1), (0, 2), (1, 2), (4, 5), (7, 8)]


def test_lesions_refuse_models_without_blocks() -> None:
    with pytest.raises(InvalidInputError, match="no residual or plain blocks"):
        block_table(create_model("cnn3"))


@pytest.mark.parametrize("name", ["resnet20", "plain20"])
def test_deleted_restores_the_model_exactly(name: str) -> None:
    m = _net(name)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        y0 = m(x)
    snap = _snapshot(m)
    with deleted(m, [1, 4, 8]) as same:
        assert same is m
        with torch.no_grad():
            assert not torch.allclose(m(x), y0), "deleting three blocks changed nothing"
    _assert_restored(m, snap, x, y0)
    with pytest.raises(RuntimeError, match="boom"), deleted(m, [2]):
        raise RuntimeError("boom")
    _assert_restored(m, snap, x, y0)


@pytest.mark.parametrize("name", ["resnet20", "plain20"])
def test_reordered_restores_the_model_exactly(name: str) -> None:
    m = _net(name)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        y0 = m(x)
    snap = _snapshot(m)
    order = list(range(9))
    order[0], order[2] = 2, 0
    order[7], order[8] = 8, 7
    with reordered(m, order):
        assert m.layer1[0] is snap[1][2][2] and m.layer3[1] is snap[1][8][2]
        with torch.no_grad():
            assert not torch.allclose(m(x), y0)
    _assert_restored(m, snap, x, y0)


def test_copies_leave_the_original_untouched() -> None:
    m = _net("resnet20")
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        y0 = m(x)
    snap = _snapshot(m)
    d = delete_blocks(m, [0, 5])
    r = reorder_blocks(m, [1, 0, 2, 3, 4, 5, 6, 7, 8])
    _assert_restored(m, snap, x, y0)
    assert d is not m and r is not m
    assert not d.layer1[0].residual_enabled and not d.layer2[2].residual_enabled
    assert d.layer1[1].residual_enabled
    with torch.no_grad():
        with deleted(m, [0, 5]):
            assert torch.equal(d(x), m(x)), "the copy with deletions differs from the in-place deletion"
        with reordered(m, [1, 0, 2, 3, 4, 5, 6, 7, 8]):
            assert torch.equal(r(x), m(x))
    # the copies stay changed after garbage collection of anything temporary
    import gc

    gc.collect()
    assert not d.layer1[0].residual_enabled


@pytest.mark.parametrize("train", [False, True])
def test_a_deleted_residual_block_is_the_identity_on_its_input(train: bool) -> None:
    m = _net("resnet20").train(train)
    x = torch.randn(8, 1, 8, 8)
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    table = block_table(m)
    blocks = [m.layer1, m.layer2, m.layer3]
    for b in table:
        mod = blocks[int(b.stage[-1]) - 1][b.position]
        mod.register_forward_hook(lambda mod, args, out, i=b.index: seen.__setitem__(i, (args[0], out)))
    keep = deletable(m, keep_shape=True)
    with torch.no_grad(), deleted(m, keep):
        m(x)
    assert sorted(seen) == list(range(9))
    for i in keep:
        inp, out = seen[i]
        assert torch.equal(out, inp), f"deleted block {i} is not the identity (max diff {(out - inp).abs().max()})"
    # downsampling blocks: only the option-A shortcut (subsample + zero channels, then the ReLU) is left
    with torch.no_grad(), deleted(m, [3, 6]):
        seen.clear()
        m(x)
    for i in (3, 6):
        inp, out = seen[i]
        b = table[i]
        expected = torch.relu(ZeroPadShortcut(b.in_channels, b.out_channels, b.stride)(inp))
        assert torch.equal(out, expected), f"deleted downsampling block {i} is not its shortcut"


def test_deleting_a_plain_block_skips_its_two_convs() -> None:
    m = _net("plain20")
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        h = m.relu(m.bn1(m.conv1(x)))
        h = m.layer1[0](h)
        h = m.layer1[2](h)  # block 1 removed
        h = m.layer3(m.layer2(h))
        expected = m.forward_head(h)
        with deleted(m, [1]):
            assert isinstance(m.layer1[1], torch.nn.Identity)
            assert torch.equal(m(x), expected)
    with pytest.raises(InvalidInputError, match=r"changes the shape.*Only shape-preserving"):
        with deleted(m, [6]):
            pass
    assert not isinstance(m.layer3[0], torch.nn.Identity)


def test_reordered_computes_the_swapped_network() -> None:
    m = _net("resnet20")
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        h = m.relu(m.bn1(m.conv1(x)))
        h = m.layer1[2](m.layer1[1](m.layer1[0](h)))
        h = m.layer2[0](h)
        h = m.layer2[1](m.layer2[2](h))  # blocks 4 and 5 swapped
        expected = m.forward_head(m.layer3(h))
        with reordered(m, [0, 1, 2, 3, 5, 4, 6, 7, 8]):
            assert torch.equal(m(x), expected)


@pytest.mark.parametrize("order", [[3, 1, 2, 0, 4, 5, 6, 7, 8], [0, 1, 4, 3, 2, 5, 6, 7, 8],
                                   [0, 0, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2]])
def test_reordering_refuses_blocks_of_another_shape(order) -> None:
    m = create_model("resnet20")
    with pytest.raises(InvalidInputError, match="same shape|permutation"):
        with reordered(m, order):
            pass
    assert [b.name for b in block_table(m)][:3] == ["layer1.0", "layer1.1", "layer1.2"]


def test_kendall_tau_against_known_permutations() -> None:
    assert kendall_tau([0, 1, 2, 3, 4]) == 1.0
    assert kendall_tau([4, 3, 2, 1, 0]) == -1.0
    assert kendall_tau([1, 0, 2, 3]) == pytest.approx(4 / 6)  # one discordant pair of six
    assert kendall_tau([2, 0, 1]) == pytest.approx(-1 / 3)  # pairs (2,0), (2,1) discordant, (0,1) concordant
    assert kendall_tau([10, 20, 30], [3, 1, 2]) == pytest.approx(-1 / 3)
    rng = random.Random(0)
    for n in (5, 9, 27):
        p = list(range(n))
        rng.shuffle(p)
        inversions = sum(p[i] > p[j] for i, j in itertools.combinations(range(n), 2))
        assert kendall_tau(p) == pytest.approx(1 - 4 * inversions / (n * (n - 1))), p
    with pytest.raises(InvalidInputError):
        kendall_tau([0, 0, 1])
    with pytest.raises(InvalidInputError):
        kendall_tau([0, 1], [0, 1, 2])


def test_random_swaps_and_deletions_are_seeded_and_legal() -> None:
    t = block_table(create_model("resnet56"))
    pairs = set(swappable_pairs(t))
    assert len(pairs) == 36 + 28 + 28
    for k in (1, 3, 10):
        o1 = random_swaps(t, k, random.Random(k))
        assert o1 == random_swaps(t, k, random.Random(k))
        assert sorted(o1) == list(range(27))
        moved = [i for i, j in enumerate(o1) if i != j]
        assert all(t[i].shape_key == t[o1[i]].shape_key and not t[i].changes_shape for i in moved)
        assert 0 < len(moved) <= 2 * k
    one = random_swaps(t, 1, random.Random(5))
    (i, j) = [p for p, s in enumerate(one) if p != s]
    assert kendall_tau(one) == pytest.approx(1 - 4 * (2 * (j - i) - 1) / (27 * 26))
    cands = deletable(create_model("resnet56"), keep_shape=True)
    assert len(cands) == 25
    d = random_deletions(cands, 5, random.Random(1))
    assert d == sorted(d) and len(set(d)) == 5 and set(d) <= set(cands)
    with pytest.raises(InvalidInputError):
        random_swaps(t, len(pairs) + 1, random.Random(0))


def test_stratified_subset_of_a_class_sorted_split() -> None:
    """The lesion experiment's evaluation subset: test splits stored class by class (the CIFAR-10 JPEG tarball)
    give a subset with every class in proportion."""
    import numpy as np

    from classicnets.data.splits import stratified_sample as stratified_subset

    labels = np.repeat(np.arange(10), 1000)  # sorted by class, as the shared tarball's test split is
    keep = stratified_subset(labels, 2000, seed=0)
    assert len(keep) == 2000 and len(set(keep.tolist())) == 2000 and (np.diff(keep) > 0).all()
    assert np.bincount(labels[keep], minlength=10).tolist() == [200] * 10
    assert (stratified_subset(labels, 2000, seed=0) == keep).all()  # seeded
    assert not (stratified_subset(labels, 2000, seed=1) == keep).all()
    uneven = np.array([0] * 7 + [1] * 3)
    assert np.bincount(uneven[stratified_subset(uneven, 5)]).tolist() == [4, 1]  # 3.5 / 1.5: remainders break ties
    with pytest.raises(InvalidInputError, match="cannot draw 11 of 10"):
        stratified_subset(uneven, 11)

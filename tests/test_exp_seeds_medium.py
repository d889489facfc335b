"""The medium scale of the factorization, inception and width experiments: 3 seeds per net on the lossless
CIFAR-10, and verdicts on the spread across seeds (a difference must exceed the margin and two standard
errors), while one seed per net (smoke, small) keeps the margin alone."""

from __future__ import annotations

import pytest

from classicnets.errors import InvalidInputError
from classicnets.experiments import factorization, get_experiment, inception, run_experiment, width
from classicnets.experiments.findings import spread
from classicnets.experiments.framework import Context


def _plan(module, scale: str, data_dir) -> list:
    ctx = Context(experiment=module.EXPERIMENT.name, scale=scale, out=data_dir / "out", data_dir=str(data_dir))
    return module.plan(ctx)


@pytest.fixture
def data_dir(tmp_path):
    """A folder holding both CIFAR-10 copies: the plans must pick the lossless one."""
    (tmp_path / "cifar10-jpg.tar.gz").write_bytes(b"")
    (tmp_path / "cifar-10-python.tar.xz").write_bytes(b"")
    return tmp_path


def _seeded_keys(bases) -> list[str]:
    return [k for b in bases for k in (b, f"{b}-s1", f"{b}-s2")]


# -- the medium plans ----------------------------------------------------------------------------------------------
def test_factorization_medium_plan(data_dir) -> None:
    specs = _plan(factorization, "medium", data_dir)
    assert [s.key for s in specs] == _seeded_keys(factorization.RUNS)
    for s in specs:
        c = s.config
        assert (c.model, c.dataset, c.epochs, c.recipe) == ("factorized_cifar", "cifar10", 12, None)
        assert c.data_dir == str(data_dir / "cifar-10-python.tar.xz")
        assert c.model_args == {"conv": factorization.RUNS[s.info["base"]][0]}
        assert c.seed == s.info["seed"] == {"": 0, "-s1": 1, "-s2": 2}[s.key[len(s.info["base"]):]]


def test_inception_medium_plan(data_dir) -> None:
    specs = _plan(inception, "medium", data_dir)
    assert [s.key for s in specs] == _seeded_keys(inception.RUNS)
    by_key = {s.key: s.config for s in specs}
    for s in specs:
        c = s.config
        assert (c.model, c.dataset, c.epochs, c.schedule, c.batch_size) == ("inception_cifar", "cifar10", 10,
                                                                            "cosine", 128)
        assert c.data_dir == str(data_dir / "cifar-10-python.tar.xz")
        assert c.seed == s.info["seed"] and c.seed in (0, 1, 2)
    assert [by_key[k].aux_weight for k in ("base", "base-s2", "no-aux", "no-aux-s1")] == [0.3, 0.3, 0.0, 0.0]
    assert by_key["ls0.1-s2"].label_smoothing == 0.1 and by_key["base-s1"].label_smoothing == 0.0
    assert by_key["rmsprop-s1"].optimizer == "rmsprop" and by_key["base-s1"].optimizer == "sgd"
    assert by_key["naive-s2"].model_args == {"module": "naive", "aux_logits": True}


def test_width_medium_plan(data_dir) -> None:
    specs = _plan(width, "medium", data_dir)
    assert [s.key for s in specs] == _seeded_keys(("base", "deep20", "deep44", "wide2", "wide3"))
    for s in specs:
        c = s.config
        assert (c.model, c.dataset, c.recipe, c.epochs) == (width.NETS[s.info["base"]]["model"], "cifar10",
                                                            "fast-cifar", 15)
        assert c.data_dir == str(data_dir / "cifar-10-python.tar.xz") and c.seed == s.info["seed"]
    assert width.SCALES["medium"]["pairs"] == width.SCALES["small"]["pairs"]


@pytest.mark.parametrize("module", [factorization, inception, width])
def test_small_plan_keeps_one_seed_and_its_keys(module, data_dir) -> None:
    specs = _plan(module, "small", data_dir)
    assert all(s.config.seed == 0 and s.info["base"] == s.key and "-s" not in s.key for s in specs)
    medium = {s.info["base"] for s in _plan(module, "medium", data_dir)}
    assert medium == {s.key for s in specs}  # the same comparison, no net dropped


@pytest.mark.parametrize("name", ["factorization", "inception", "width"])
def test_medium_scale_is_described_and_needs_the_data(name) -> None:
    exp = get_experiment(name)
    text = exp.scales["medium"]
    assert "3 seeds" in text and "about 4 hours" in text and "--jobs 2" in text and "lossless" in text
    assert exp.needs_data["medium"] == "cifar10"
    with pytest.raises(InvalidInputError, match="--data-dir"):
        run_experiment(name, scale="medium", verbose=False)


# -- verdicts over seeds -----------------------------------------------------------------------------------------
def test_nonlinear_mean_beyond_margin_but_seeds_spread_is_inconclusive() -> None:
    relu, linear = [0.84, 0.80, 0.76], [0.785, 0.787, 0.783]  # means 80.0% and 78.5%: +1.5 points, margin 1.14
    v = factorization.verdict_nonlinear(relu_acc=spread(relu), linear_acc=spread(linear), n_test=10_000, chance=0.1)
    assert v.status == "inconclusive" and "spread across seeds" in v.reason and "over 3 and 3 seeds" in v.reason
    assert "80.00% (sd 4.00, n=3)" in v.evidence and "+1.50 points" in v.evidence
    tight = factorization.verdict_nonlinear(relu_acc=spread([0.801, 0.80, 0.799]), linear_acc=spread(linear),
                                            n_test=10_000, chance=0.1)
    assert tight.status == "supported"
    one = factorization.verdict_nonlinear(relu_acc=spread([0.80]), linear_acc=spread([0.785]), n_test=10_000,
                                          chance=0.1)
    assert one.status == "supported"  # one seed each: the margin alone decides
    assert factorization.verdict_nonlinear(relu_acc=spread(linear), linear_acc=spread([0.80, 0.801, 0.799]),
                                           n_test=10_000, chance=0.1).status == "not supported"


@pytest.mark.parametrize(("original", "factorized", "status"), [
    ([0.80, 0.801, 0.799], [0.785, 0.786, 0.784], "not supported"),  # 1.5 points lost, tight seeds
    ([0.84, 0.80, 0.76], [0.785, 0.786, 0.784], "inconclusive"),     # 1.5 points lost, wide spread
    ([0.80], [0.785], "not supported"),                              # one seed: beyond the margin
    ([0.80, 0.81, 0.79], [0.798, 0.79, 0.806], "supported"),         # 0.2 points lost: within the margin
    ([0.785, 0.786, 0.784], [0.80, 0.801, 0.799], "supported"),      # better, beyond both
])
def test_fewer_params_over_seeds(original, factorized, status) -> None:
    v = factorization.verdict_fewer_params("a 5x5 convolution", "two 3x3 convolutions", params=(800_000, 590_000),
                                           macs=(107_000_000, 80_000_000), acc=(spread(original), spread(factorized)),
                                           n_test=10_000, chance=0.1)
    assert v.status == status, v.line()
    assert ("more accurate" in v.evidence) == (status == "supported" and factorized[0] > original[0])


def test_inception_accuracy_and_reductions_over_seeds() -> None:
    wide = spread([0.74, 0.70, 0.66])  # mean 70.0%, sd 4 points
    base = spread([0.684, 0.686, 0.685])  # 68.5%: the change is 1.5 points better (margin 1.3)
    v = inception.verdict_accuracy("X helps.", with_acc=wide, without_acc=base, names=("with", "without"),
                                   n_test=10_000, chance=0.1)
    assert v.status == "inconclusive" and "spread across seeds" in v.reason
    tight = spread([0.701, 0.70, 0.699])
    assert inception.verdict_accuracy("X helps.", with_acc=tight, without_acc=base, names=("with", "without"),
                                      n_test=10_000, chance=0.1).status == "supported"

    def mod(params: int, macs: float, acc, out: int) -> dict:
        return {"params": params, "macs": macs, "test_acc": acc, "out_channels": out}

    naive, reduced = mod(559_274, 57.4e6, wide, 416), mod(88_494, 12.8e6, base, 128)
    v = inception.verdict_reductions(naive=naive, reduced=reduced, n_test=10_000, chance=0.1)
    assert v.status == "inconclusive" and "loss is beyond the margin" in v.reason
    v = inception.verdict_reductions(naive={**naive, "test_acc": tight}, reduced=reduced, n_test=10_000, chance=0.1)
    assert v.status == "not supported" and "loses accuracy" in v.evidence


def test_calibration_over_seeds() -> None:
    def side(acc: float, conf: float, eces: list[float]) -> dict:
        return {"accuracy": spread([acc] * len(eces)), "mean_confidence": spread([conf] * len(eces)),
                "ece": spread(eces)}

    plain = side(0.80, 0.90, [0.10, 0.06, 0.14])  # ECE 10% +- 4
    smoothed = side(0.80, 0.82, [0.07, 0.071, 0.069])  # 3 points lower: beyond two bootstrap SEs (2)
    v = inception.verdict_calibration(plain=plain, smoothed=smoothed, ece_se_diff=0.01, chance=0.1)
    assert v.status == "inconclusive" and "spread across seeds" in v.reason
    plain_tight = side(0.80, 0.90, [0.10, 0.101, 0.099])
    assert inception.verdict_calibration(plain=plain_tight, smoothed=smoothed, ece_se_diff=0.01,
                                         chance=0.1).status == "supported"
    assert inception.verdict_calibration(plain=smoothed, smoothed=plain_tight, ece_se_diff=0.01,
                                         chance=0.1).status == "not supported"


def _net(label: str, errs: list[float], params: int = 600_000) -> dict:
    return {"label": label, "test_err": spread(errs), "params": params, "macs": 9e7, "epoch_s": 100.0}


def test_width_verdicts_over_seeds() -> None:
    thin = _net("deep", [14.0, 14.1, 13.9])
    # the wide net 1 point worse (margin 0.5): not supported with tight seeds, inconclusive with a wide spread
    assert width.verdict_matched(thin, _net("wide", [15.0, 15.1, 14.9]), matched="parameters").status == \
        "not supported"
    v = width.verdict_matched(thin, _net("wide", [17.0, 15.0, 13.0]), matched="parameters")
    assert v.status == "inconclusive" and "+1.00 points" in v.evidence and "(sd 2.00, n=3)" in v.evidence
    assert width.verdict_matched(thin, _net("wide", [14.2, 14.3, 14.1]), matched="parameters").status == "supported"
    base = _net("base", [21.0, 21.5, 21.2], params=80_000)
    deep = [base, _net("deep", [16.0, 14.0, 12.0])]  # ends 1 point worse than the wide series, wide spread
    v = width.verdict_per_parameter(deep, [base, _net("wide", [13.0, 13.1, 12.9])])
    assert v.status == "inconclusive" and "spread across seeds" in v.reason
    tight = [base, _net("deep", [14.0, 14.1, 13.9])]
    assert width.verdict_per_parameter(tight, [base, _net("wide", [13.0, 13.1, 12.9])]).status == "supported"
    assert width.verdict_per_parameter(tight, [base, _net("wide", [15.0, 15.1, 14.9])]).status == "not supported"


# -- one seed: the small-scale results keep their verdicts -------------------------------------------------------
@pytest.mark.parametrize("wrap", [float, lambda x: spread([x])], ids=["float", "one-seed-spread"])
def test_small_scale_numbers_keep_their_verdicts(wrap) -> None:
    """docs/results/*/summary.md (small, one seed): the same statuses, as floats and as one-seed spreads."""
    f = factorization
    assert [f.verdict_fewer_params("a", "b", params=p, macs=(1e8, 8e7), acc=(wrap(a0), wrap(a1)), n_test=10_000,
                                   chance=0.1).status
            for p, a0, a1 in (((798_186, 589_276), 0.8166, 0.8153), ((288_746, 198_376), 0.8062, 0.7956))] == \
        ["supported", "supported"]
    assert f.verdict_nonlinear(relu_acc=wrap(0.8153), linear_acc=wrap(0.7975), n_test=10_000,
                               chance=0.1).status == "supported"
    assert [inception.verdict_accuracy("c", with_acc=wrap(w), without_acc=wrap(wo), names=("a", "b"),
                                       n_test=10_000, chance=0.1).status
            for w, wo in ((0.7033, 0.7040), (0.6961, 0.7033), (0.7034, 0.7033))] == ["inconclusive"] * 3
    cal = inception.verdict_calibration(
        plain={"accuracy": wrap(0.7033), "mean_confidence": wrap(0.7275), "ece": wrap(0.0244)},
        smoothed={"accuracy": wrap(0.6961), "mean_confidence": wrap(0.6468), "ece": wrap(0.0493)},
        ece_se_diff=0.00695, chance=0.1)
    assert cal.status == "not supported"
    red = inception.verdict_reductions(
        naive={"params": 559_274, "macs": 57.4e6, "test_acc": wrap(0.7151), "out_channels": 416},
        reduced={"params": 88_494, "macs": 12.8e6, "test_acc": wrap(0.7033), "out_channels": 128},
        n_test=10_000, chance=0.1)
    assert red.status == "supported"

    def net(label: str, err: float, params: int) -> dict:
        return {"label": label, "test_err": wrap(err), "params": params, "macs": 9e7}

    assert width.verdict_matched(net("d44", 13.78, 661_146), net("w3", 14.84, 677_274),
                                 matched="parameters").status == "not supported"
    assert width.verdict_matched(net("d20", 15.06, 272_282), net("w2", 16.72, 303_706),
                                 matched="multiply-adds").status == "not supported"
    b = net("base", 21.47, 77_850)
    assert width.verdict_per_parameter([b, net("d44", 13.78, 661_146)],
                                       [b, net("w3", 14.84, 677_274)]).status == "not supported"


# -- the seeded analysis end to end (smoke data, two seeds) ------------------------------------------------------
@pytest.mark.parametrize("module", [factorization, width])
def test_seeded_analysis_groups_the_seeds(module, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(module.SCALES, "smoke", {**module.SCALES["smoke"], "seeds": 2})
    r = run_experiment(module.EXPERIMENT.name, scale="smoke", out=tmp_path / "x", verbose=False)
    bases = list(factorization.RUNS) if module is factorization else list(width.SCALES["smoke"]["nets"])
    assert set(r["runs"]) == {k for b in bases for k in (b, f"{b}-s1")}
    nets = r["measurements"]["nets"]
    rows = nets if isinstance(nets, list) else list(nets.values())
    assert len(rows) == len(bases) and all(n["seeds"] == 2 for n in rows)
    assert r["measurements"]["seeds"] == 2
    summary = (tmp_path / "x" / "summary.md").read_text()
    assert "over 2 seeds" in summary and "(sd " in summary and "n=2)" in summary
    assert len(r["verdicts"]) == 3

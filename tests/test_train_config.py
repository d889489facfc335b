"""TrainConfig, TOML round trips, the command-line flags, recipes and the learning-rate schedules."""

from __future__ import annotations

import argparse
import math

import pytest

from classicnets.errors import InvalidInputError, UnknownOptionError
from classicnets.train import recipes
from classicnets.train.config import (
    TrainConfig,
    add_arguments,
    config_hash,
    diff_keys,
    from_dict,
    from_namespace,
    load_toml,
    to_toml,
)


def resolved(**kw):
    cfg = TrainConfig(**{"model": "resnet20", "dataset": "cifar10", **kw})
    out, _ = recipes.resolve(cfg, has_batchnorm=True, has_aux=False)
    return out


def test_issue_flags_all_exist() -> None:
    p = argparse.ArgumentParser()
    add_arguments(p)
    flags = {s for a in p._actions for s in a.option_strings}
    wanted = ("--data-dir --recipe --epochs --steps --batch-size --lr --optimizer --momentum --weight-decay "
              "--schedule --milestones --gamma --warmup-steps --label-smoothing --grad-clip --aux-weight "
              "--precision --channels-last --compile --device --seed --deterministic --val-split --out --resume "
              "--ckpt-every-steps --model-arg --sync-bn --tensorboard").split()
    missing = [f for f in wanted if f not in flags]
    assert not missing, missing


def test_flags_override_toml_and_toml_overrides_defaults(tmp_path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('model = "plain20"\ndataset = "digits"\nlr = 0.3\nbatch_size = 64\n[model_args]\nshortcut = "B"\n')
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default=argparse.SUPPRESS)
    add_arguments(p)
    args = p.parse_args(["--lr", "0.05", "--model-arg", "zero_init_residual=true", "--milestones", "1,2.5",
                         "--resume"])
    cfg = from_namespace(args, config_file=str(f))
    assert (cfg.model, cfg.dataset, cfg.lr, cfg.batch_size) == ("plain20", "digits", 0.05, 64)
    assert cfg.model_args == {"shortcut": "B", "zero_init_residual": True}
    assert cfg.milestones == [1.0, 2.5] and cfg.resume == "" and cfg.epochs is None


def test_toml_round_trip_is_exact(tmp_path) -> None:
    cfg = resolved(recipe="resnet-cifar", model_args={"stem": "cifar"}, label_smoothing=0.1)
    f = tmp_path / "config.toml"
    f.write_text(to_toml(cfg, header="a header\nsecond line"))
    again = from_dict(load_toml(f))
    assert again == cfg
    assert config_hash(again.to_dict()) == config_hash(cfg.to_dict())


def test_bad_options_are_refused_with_the_name() -> None:
    with pytest.raises(UnknownOptionError, match="'lrr'.*Did you mean 'lr'"):
        from_dict({"lrr": 0.1})
    with pytest.raises(InvalidInputError, match="optimizer must be one of sgd, nesterov, rmsprop, adamw"):
        from_dict({"optimizer": "adam"})
    with pytest.raises(InvalidInputError, match="'epochs' expects a float"):
        from_dict({"epochs": "many"})
    with pytest.raises(InvalidInputError, match="--epochs or --steps, not both"):
        resolved(epochs=3, steps=10)


def test_diff_keys_names_result_changes_only() -> None:
    a = TrainConfig(model="resnet20", lr=0.1).to_dict()
    b = TrainConfig(model="resnet20", lr=0.2, seed=1, out="elsewhere", device="cpu", threads=4).to_dict()
    assert diff_keys(a, b) == ["lr", "seed"]


def test_resnet_cifar_schedule_matches_the_paper() -> None:
    cfg = resolved(recipe="resnet-cifar")
    s = recipes.build_schedule(cfg, steps_per_epoch=390)
    assert s.total_steps == 64_000
    got = {it: recipes.lr_at(s, it) for it in (0, 31_999, 32_000, 47_999, 48_000, 63_999)}
    want = {0: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001, 63_999: 0.001}
    for it in want:
        assert math.isclose(got[it], want[it], rel_tol=1e-12), (it, got[it])
    assert (cfg.optimizer, cfg.momentum, cfg.weight_decay, cfg.batch_size, cfg.augment) == \
        ("sgd", 0.9, 1e-4, 128, "crop-flip")


def test_resnet_cifar_warms_up_from_110_layers() -> None:
    deep = recipes.build_schedule(resolved(model="resnet110", recipe="resnet-cifar"), steps_per_epoch=390)
    assert [recipes.lr_at(deep, i) for i in (0, 399, 400)] == [0.01, 0.01, 0.1]
    shallow = recipes.build_schedule(resolved(model="resnet56", recipe="resnet-cifar"), steps_per_epoch=390)
    assert recipes.lr_at(shallow, 0) == 0.1


def test_epochs_rescale_the_recipe_schedule() -> None:
    cfg = resolved(recipe="resnet-cifar", epochs=82)
    assert cfg.steps is None and cfg.milestones == [41.0, 61.5]
    s = recipes.build_schedule(cfg, steps_per_epoch=390)
    assert s.total_steps == 82 * 390 and s.milestones == (41 * 390, round(61.5 * 390))
    # the user's own milestones are taken as given, in the unit of the length
    s2 = recipes.build_schedule(resolved(recipe="resnet-cifar", epochs=10, milestones=[5, 8]), 100)
    assert s2.milestones == (500, 800)
    # googlenet's "4% every 8 epochs" keeps its share of the run
    g = TrainConfig(model="googlenet", dataset="cifar10", recipe="googlenet", epochs=12)
    g, _ = recipes.resolve(g, has_batchnorm=False, has_aux=True)
    assert g.milestones == [0.8] and g.aux_weight == 0.3 and g.gamma == 0.96


@pytest.mark.parametrize("kind", ["step", "multistep", "cosine", "onecycle", "exponential", "constant"])
def test_every_schedule_is_positive_and_starts_and_ends_sensibly(kind: str) -> None:
    s = recipes.Schedule(kind=kind, lr=0.1, total_steps=100, steps_per_epoch=10, milestones=(30, 60), gamma=0.5)
    lrs = [recipes.lr_at(s, i) for i in range(100)]
    assert all(0 <= v <= 0.1 + 1e-12 for v in lrs)
    if kind == "cosine":
        assert lrs[0] == 0.1 and lrs[-1] < 1e-3
    if kind == "onecycle":
        assert lrs[0] == pytest.approx(0.004) and max(lrs) == pytest.approx(0.1) and lrs[-1] < 0.01
    if kind == "step":
        assert lrs[29] == 0.1 and lrs[30] == 0.05 and lrs[60] == 0.025
    if kind == "exponential":
        assert lrs[10] == pytest.approx(0.05)


def test_linear_warmup() -> None:
    s = recipes.Schedule(kind="cosine", lr=0.2, total_steps=100, steps_per_epoch=10, warmup_steps=4)
    assert [recipes.lr_at(s, i) for i in range(5)] == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2])


def test_inception_recipe_and_the_rmsprop_epsilon() -> None:
    r = recipes.get_recipe("inception-v3")
    v = r.values("inception_v3")
    assert (v["optimizer"], v["rmsprop_decay"], v["rmsprop_eps"], v["lr"], v["gamma"], v["milestones"],
            v["grad_clip"], v["label_smoothing"]) == ("rmsprop", 0.9, 1.0, 0.045, 0.94, [2.0], 2.0, 0.1)
    assert "sqrt" in r.notes
    # TF divides by sqrt(v + e), torch by sqrt(v) + sqrt(e): never more than sqrt(2) apart
    e = 1.0
    for v2 in (1e-8, 1e-2, 1.0, 1e2, 1e8):
        tf, th = math.sqrt(v2 + e), math.sqrt(v2) + math.sqrt(e)
        assert 1.0 <= th / tf <= math.sqrt(2) + 1e-12


def test_every_recipe_value_has_a_source_and_ours_is_marked() -> None:
    assert set(recipes.RECIPES) == {"resnet-cifar", "nin-cifar", "googlenet", "inception-v3", "bn-mnist",
                                    "fast-cifar", "preact-cifar", "wrn-cifar"}
    for r in recipes.RECIPES.values():
        for k, s in r.settings.items():
            assert s.source, (r.name, k)
            assert k in TrainConfig.__dataclass_fields__, (r.name, k)
    assert all(s.source.startswith("ours") or "He et al." in s.source
               for s in recipes.RECIPES["fast-cifar"].settings.values() if s.source != "no auxiliary heads")
    bn = recipes.get_recipe("bn-mnist").values()
    assert (bn["batch_size"], bn["steps"]) == (60, 50_000)


def test_default_recipe_depends_on_batchnorm_and_aux() -> None:
    with_bn = recipes.default_recipe("resnet20", "cifar10", has_batchnorm=True, has_aux=False).values()
    without = recipes.default_recipe("nin_cifar10", "cifar10", has_batchnorm=False, has_aux=False).values()
    aux = recipes.default_recipe("googlenet", "flowers17", has_batchnorm=False, has_aux=True).values()
    assert (with_bn["lr"], without["lr"], aux["aux_weight"], with_bn["aux_weight"]) == (0.1, 0.01, 0.3, 0.0)
    assert with_bn["augment"] == "crop-flip" and aux["augment"] == "resized-crop-flip"


def test_bias_decay_false_exempts_every_one_dimensional_parameter() -> None:
    from classicnets.models import create_model
    from classicnets.train.loop import build_optimizer

    net = create_model("resnet20")
    cfg = TrainConfig(optimizer="nesterov", lr=0.1, momentum=0.9, weight_decay=5e-4, bias_decay=False)
    decayed, exempt = build_optimizer(cfg, net).param_groups
    assert decayed["weight_decay"] == 5e-4 and exempt["weight_decay"] == 0.0
    names = {id(p): n for n, p in net.named_parameters()}
    assert all(p.ndim == 4 or names[id(p)] == "fc.weight" for p in decayed["params"])
    assert {names[id(p)].rsplit(".", 1)[1] for p in exempt["params"]} == {"weight", "bias"}  # BN and fc.bias
    assert len(decayed["params"]) + len(exempt["params"]) == len(list(net.parameters()))
    (group,) = build_optimizer(cfg.replace(bias_decay=True), net).param_groups
    assert group["weight_decay"] == 5e-4 and len(group["params"]) == len(list(net.parameters()))


def test_a_config_from_before_bias_decay_existed_matches_the_papers_default() -> None:
    new = TrainConfig(model="resnet20", bias_decay=True).to_dict()
    old = {k: v for k, v in new.items() if k != "bias_decay"}
    assert diff_keys(old, new) == []
    assert diff_keys(old, {**new, "bias_decay": False}) == ["bias_decay"]

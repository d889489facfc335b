"""Training recipes as data, each hyperparameter with its source.

A :class:`Recipe` is a table of :class:`TrainConfig <.config.TrainConfig>`
values; every value names where it comes from (paper and section) or is
marked ``ours`` with the reason.  ``classicnets train --recipe NAME`` fills
every option the user did not set from the recipe; with no ``--recipe``,
:func:`default_recipe` picks a sensible one for the model and dataset.

Lengths and schedules.  A recipe states its length in the paper's unit
(``steps`` for He et al.'s 64k iterations, ``epochs`` elsewhere) and its
milestones in that unit.  When ``--epochs`` or ``--steps`` changes the length,
the recipe's milestones and step period are rescaled to the same fractions of
the new length (``--epochs 82`` with ``resnet-cifar`` divides the learning rate
at 50% and 75% of the run, as the paper does at 32k and 48k of 64k).
Milestones the user gives with ``--milestones`` are taken as they are, counted
in the unit of the length.  Warm-up steps are absolute and never rescaled.

:func:`lr_at` is the whole schedule: a pure function of the step, so a resumed
run needs nothing but the step to continue the schedule exactly.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError

HE2015 = "He et al. 2015, Deep Residual Learning, Sec. 4.2"
LIN2013 = "Lin et al. 2013, Network in Network, Sec. 4.1-4.2"
SZEGEDY2014 = "Szegedy et al. 2014, Going Deeper with Convolutions, Sec. 5-6"
SZEGEDY2015 = "Szegedy et al. 2015, Rethinking the Inception Architecture, Sec. 7-8"
IOFFE2015 = "Ioffe & Szegedy 2015, Batch Normalization, Sec. 4.1"
HE2016 = "He et al. 2016, Identity Mappings in Deep Residual Networks, Sec. 4 and appendix"
ZAGORUYKO2016 = "Zagoruyko & Komodakis 2016, Wide Residual Networks, Sec. 3-4"


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # a paper and section, or "ours: <why>"


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    settings: dict[str, Setting]
    notes: str = ""
    # models (shell patterns) the recipe was written for; others work, with a note (see notices())
    models: tuple[str, ...] = ("*",)
    deep_warmup: dict[str, Setting] = field(default_factory=dict)  # extra settings for >= 110 layers

    def values(self, model: str = "") -> dict[str, Any]:
        """The recipe's config values for ``model`` (the deep-net warm-up added where it applies)."""
        out = {k: s.value for k, s in self.settings.items()}
        if self.deep_warmup and model_depth(model) >= 110:
            out.update({k: s.value for k, s in self.deep_warmup.items()})
        return out

    def sources(self, model: str = "") -> dict[str, str]:
        out = {k: s.source for k, s in self.settings.items()}
        if self.deep_warmup and model_depth(model) >= 110:
            out.update({k: s.source for k, s in self.deep_warmup.items()})
        return out


def ours(why: str) -> str:
    return f"ours: {why}"


def model_depth(name: str) -> int:
    """Layer count read from a ResNet/plain model name (``resnet110``, ``preact_resnet110`` -> 110; others 0)."""
    m = re.fullmatch(r"(?:resnet|plain|preact_resnet)(\d+)", name)
    return int(m.group(1)) if m else 0


RECIPES: dict[str, Recipe] = {}


def _add(recipe: Recipe) -> None:
    RECIPES[recipe.name] = recipe


_add(Recipe(
    name="resnet-cifar",
    summary="He et al.'s CIFAR-10 schedule: SGD 0.1, /10 at 32k and 48k iterations, stop at 64k",
    models=("resnet*", "plain*"),
    settings={
        "optimizer": Setting("sgd", HE2015),
        "lr": Setting(0.1, HE2015),
        "momentum": Setting(0.9, HE2015),
        "weight_decay": Setting(1e-4, HE2015),
        "batch_size": Setting(128, HE2015),
        "schedule": Setting("multistep", HE2015),
        "milestones": Setting([32000.0, 48000.0], HE2015 + " (iterations)"),
        "gamma": Setting(0.1, HE2015),
        "steps": Setting(64000, HE2015 + " (about 164 epochs of 50k images)"),
        "augment": Setting("crop-flip", HE2015 + " (4-pixel pad, random 32x32 crop, horizontal flip)"),
        "label_smoothing": Setting(0.0, HE2015 + " (none)"),
        "grad_clip": Setting(0.0, HE2015 + " (none)"),
        "warmup_steps": Setting(0, HE2015),
        "aux_weight": Setting(0.0, "no auxiliary heads"),
    },
    deep_warmup={
        "warmup_steps": Setting(400, HE2015 + ": lr 0.01 until training error < 80% (about 400 iterations), "
                                "for 110 layers and deeper; we use the fixed 400"),
        "warmup_lr": Setting(0.01, HE2015),
    },
    notes="The paper chose 64k iterations on a 45k/5k train/val split and trained the final models on all "
          "50k images, as this recipe does (val_split 0). Per-pixel mean subtraction in the paper; we "
          "normalize by the per-channel mean and std of the training split.",
))

_add(Recipe(
    name="nin-cifar",
    summary="Network in Network on CIFAR-10: SGD batch 128, lr divided by 10 twice",
    models=("nin*",),
    settings={
        "optimizer": Setting("sgd", ours("the paper follows Krizhevsky et al.'s SGD set-up")),
        "batch_size": Setting(128, LIN2013),
        "lr": Setting(0.05, ours("NIN has no BatchNorm; 0.1 diverges in our runs' first steps")),
        "momentum": Setting(0.9, ours("the usual value of Krizhevsky et al.'s set-up the paper follows")),
        "weight_decay": Setting(1e-4, ours("a common value; the paper gives none")),
        "schedule": Setting("multistep", LIN2013 + ": lr divided by 10 twice"),
        "milestones": Setting([60.0, 90.0], ours("the paper divides when training accuracy stalls; we fix "
                                               "the points at 50% and 75% of the run")),
        "gamma": Setting(0.1, LIN2013),
        "epochs": Setting(120, ours("a fixed length in place of 'until it stalls'")),
        "augment": Setting("crop-flip", LIN2013 + " (translation and horizontal flipping, 8.81% error)"),
        "label_smoothing": Setting(0.0, LIN2013 + " (none)"),
        "grad_clip": Setting(0.0, LIN2013 + " (none)"),
        "warmup_steps": Setting(0, LIN2013 + " (none)"),
        "aux_weight": Setting(0.0, "no auxiliary heads"),
    },
    notes="The paper preprocesses with global contrast normalization and ZCA whitening; we normalize "
          "per channel. Dropout 0.5 between the mlpconv blocks is part of the model.",
))

_add(Recipe(
    name="googlenet",
    summary="GoogLeNet: SGD momentum 0.9, lr x0.96 every 8 epochs, auxiliary losses weighted 0.3",
    models=("googlenet*",),
    settings={
        "optimizer": Setting("sgd", SZEGEDY2014 + " (asynchronous SGD; we run synchronous SGD)"),
        "momentum": Setting(0.9, SZEGEDY2014),
        "schedule": Setting("step", SZEGEDY2014),
        "milestones": Setting([8.0], SZEGEDY2014 + ": decreasing the learning rate by 4% every 8 epochs"),
        "gamma": Setting(0.96, SZEGEDY2014),
        "aux_weight": Setting(0.3, SZEGEDY2014 + ": auxiliary losses added with weight 0.3"),
        "lr": Setting(0.01, ours("the paper gives no initial learning rate; 0.01 suits the BN-free net")),
        "weight_decay": Setting(2e-4, ours("the paper gives no weight decay")),
        "batch_size": Setting(128, ours("the paper gives no batch size")),
        "epochs": Setting(120, ours("the paper gives no length")),
        "augment": Setting("resized-crop-flip", SZEGEDY2014 + ": patches of 8%-100% of the image, aspect "
                           "3/4-4/3, flips (photometric distortions not applied)"),
        "label_smoothing": Setting(0.0, SZEGEDY2014 + " (none)"),
        "grad_clip": Setting(0.0, SZEGEDY2014 + " (none)"),
        "warmup_steps": Setting(0, SZEGEDY2014 + " (none)"),
    },
    notes="Polyak averaging, used for the final model in the paper, is not applied.",
))

_add(Recipe(
    name="inception-v3",
    summary="Inception v3: RMSProp (decay 0.9, eps 1.0), lr 0.045 x0.94 every 2 epochs, clip 2.0, "
            "label smoothing 0.1",
    models=("inception*",),
    settings={
        "optimizer": Setting("rmsprop", SZEGEDY2015),
        "rmsprop_decay": Setting(0.9, SZEGEDY2015 + " (decay 0.9 = torch's alpha)"),
        "rmsprop_eps": Setting(1.0, SZEGEDY2015 + " (TensorFlow epsilon 1.0; torch eps = sqrt(1.0) = 1.0, "
                               "see the notes)"),
        "lr": Setting(0.045, SZEGEDY2015),
        "schedule": Setting("step", SZEGEDY2015),
        "milestones": Setting([2.0], SZEGEDY2015 + ": decayed every two epochs"),
        "gamma": Setting(0.94, SZEGEDY2015 + ": exponential rate of 0.94"),
        "grad_clip": Setting(2.0, SZEGEDY2015 + ": gradient clipping with threshold 2.0"),
        "label_smoothing": Setting(0.1, SZEGEDY2015 + ", Sec. 7: epsilon 0.1"),
        "batch_size": Setting(32, SZEGEDY2015 + " (batch 32 on each of 50 replicas)"),
        "momentum": Setting(0.9, ours("the paper gives none; TensorFlow's Inception training used 0.9")),
        "weight_decay": Setting(4e-5, ours("the paper gives none; a common value for this net")),
        "aux_weight": Setting(0.4, ours("the paper gives no weight for its single auxiliary head")),
        "epochs": Setting(100, ours("the paper gives no length")),
        "augment": Setting("resized-crop-flip", ours("the paper does not describe its augmentation")),
        "warmup_steps": Setting(0, SZEGEDY2015 + " (none)"),
    },
    notes="TensorFlow's RMSProp divides by sqrt(v + eps), torch's by sqrt(v) + eps. No torch eps gives the "
          "same update; eps_torch = sqrt(eps_tf) matches it exactly when v << eps_tf and when v >> eps_tf and "
          "is never off by more than a factor sqrt(2) in between (sqrt(v)+sqrt(e) <= sqrt(2) sqrt(v+e)). "
          "With the paper's eps_tf = 1.0 that is torch eps 1.0. TensorFlow 1 also starts the mean square v at "
          "1, torch at 0: the first torch steps are larger.",
))

_add(Recipe(
    name="bn-mnist",
    summary="The BatchNorm paper's MNIST set-up: 3 x 100 sigmoid units, batch 60, 50,000 steps",
    models=("mnist_mlp*",),
    settings={
        "batch_size": Setting(60, IOFFE2015),
        "steps": Setting(50000, IOFFE2015),
        "optimizer": Setting("sgd", ours("the paper does not name the optimizer for MNIST")),
        "lr": Setting(0.1, ours("the paper gives none")),
        "momentum": Setting(0.0, ours("plain SGD")),
        "weight_decay": Setting(0.0, ours("none")),
        "schedule": Setting("constant", ours("the paper gives none")),
        "augment": Setting("none", IOFFE2015 + " (none)"),
        "label_smoothing": Setting(0.0, IOFFE2015 + " (cross-entropy)"),
        "grad_clip": Setting(0.0, ours("none")),
        "warmup_steps": Setting(0, ours("none")),
        "aux_weight": Setting(0.0, "no auxiliary heads"),
    },
    notes="Train mnist_mlp with and without --model-arg batch_norm=true to see the paper's Fig. 1.",
))

_add(Recipe(
    name="fast-cifar",
    summary="Ours: the quickest honest route to a high CIFAR-10 accuracy with a classic net on a CPU",
    models=("resnet*", "plain*", "preact_resnet*", "wrn*"),
    settings={
        "optimizer": Setting("nesterov", ours("Nesterov momentum converges faster in short schedules")),
        "lr": Setting(0.2, ours("peak of the one-cycle schedule, chosen on a held-out 5,000-image split of the "
                                "training set: 15-epoch ResNet-20 runs at peaks 0.1 / 0.2 / 0.4 reached 88.90 / "
                                "89.86 / 88.84% on it (docs/training.md)")),
        "momentum": Setting(0.9, HE2015),
        "weight_decay": Setting(5e-4, ours("short schedules need more regularization than the paper's 1e-4")),
        "batch_size": Setting(128, HE2015 + " (batch 128; also the fastest step size per image on this CPU)"),
        "schedule": Setting("onecycle", ours("one-cycle: ramp up for 25% of the run, then down to 0")),
        "epochs": Setting(30, ours("a fifth of the paper's 164 epochs")),
        "augment": Setting("crop-flip", HE2015),
        "label_smoothing": Setting(0.1, ours("label smoothing 0.1 (Szegedy et al. 2015) helps short runs")),
        "grad_clip": Setting(0.0, ours("none")),
        "warmup_steps": Setting(0, ours("the one-cycle ramp is the warm-up")),
        "aux_weight": Setting(0.0, "no auxiliary heads"),
    },
    notes="Differs from resnet-cifar in: Nesterov momentum, a one-cycle schedule to a peak lr of 0.2 instead of "
          "steps from 0.1, weight decay 5e-4, label smoothing 0.1, 30 epochs instead of 164 (bf16 autocast "
          "comes from --precision auto, as for every recipe).",
))


def _as_preact(recipe: Recipe) -> Recipe:
    """He et al. 2016 trained the pre-activation nets on He et al. 2015's CIFAR schedule (Sec. 4, appendix)."""
    def cite(d: dict[str, Setting]) -> dict[str, Setting]:
        return {k: Setting(v.value, f"{HE2016}: as {v.source}") for k, v in d.items()}

    return Recipe(name="preact-cifar", summary="He et al. 2016's CIFAR schedule for pre-activation ResNets: SGD 0.1, "
                  "/10 at 32k and 48k, stop at 64k (that of He et al. 2015)", models=("preact_resnet*",),
                  settings=cite(recipe.settings), deep_warmup=cite(recipe.deep_warmup),
                  notes="The schedule of resnet-cifar, for the pre-activation nets; ResNet-1001's 4.62% used batch "
                        "64 (Table 4), the recipe keeps the main results' 128.")


_add(_as_preact(RECIPES["resnet-cifar"]))

_add(Recipe(
    name="wrn-cifar",
    summary="Zagoruyko & Komodakis' CIFAR schedule: SGD Nesterov 0.1, x0.2 at epochs 60/120/160, stop at 200",
    models=("wrn*", "wide_resnet*", "preact_resnet*"),
    settings={
        "optimizer": Setting("nesterov", ZAGORUYKO2016 + " (Nesterov momentum 0.9)"),
        "lr": Setting(0.1, ZAGORUYKO2016),
        "momentum": Setting(0.9, ZAGORUYKO2016),
        "weight_decay": Setting(5e-4, ZAGORUYKO2016),
        "batch_size": Setting(128, ZAGORUYKO2016),
        "schedule": Setting("multistep", ZAGORUYKO2016),
        "milestones": Setting([60.0, 120.0, 160.0], ZAGORUYKO2016 + " (epochs)"),
        "gamma": Setting(0.2, ZAGORUYKO2016),
        "epochs": Setting(200, ZAGORUYKO2016),
        "augment": Setting("crop-flip", ZAGORUYKO2016 + " (pad 4 and random crop, flip; the authors pad by "
                           "reflection, this recipe with zeros)"),
        "label_smoothing": Setting(0.0, ZAGORUYKO2016 + " (none)"),
        "grad_clip": Setting(0.0, ZAGORUYKO2016 + " (none)"),
        "warmup_steps": Setting(0, ZAGORUYKO2016),
        "aux_weight": Setting(0.0, "no auxiliary heads"),
    },
    notes="Dropout is a model option: --model-arg drop_rate=0.3 where the paper used it (Table 6: WRN-28-10 3.89%, "
          "WRN-16-4 no gain). The paper's Table 5 normalizes by the per-channel mean and std, as this project does.",
))


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise InvalidInputError(f"unknown recipe {name!r}; choose one of {', '.join(sorted(RECIPES))}.")
    return RECIPES[name]


# The length of a default run, in epochs, per dataset (ours).
DEFAULT_EPOCHS = {"digits": 15, "mnist": 10, "fashion_mnist": 15, "cifar10": 30, "cifar100": 30,
                  "flowers17": 60, "imagefolder": 30}
DEFAULT_AUGMENT = {"digits": "none", "mnist": "none", "fashion_mnist": "flip", "cifar10": "crop-flip",
                   "cifar100": "crop-flip", "flowers17": "resized-crop-flip", "imagefolder": "resized-crop-flip"}


def default_recipe(model: str, dataset: str, *, has_batchnorm: bool, has_aux: bool) -> Recipe:
    """Ours: the settings used when no ``--recipe`` is given.

    SGD with Nesterov momentum and a cosine schedule: lr 0.1 for networks with
    BatchNorm, 0.01 for those without (which diverge at 0.1); batch 128;
    weight decay 5e-4; auxiliary losses weighted 0.3 (GoogLeNet's value) for
    models that have them; the dataset's usual augmentation.
    """
    why = "the default recipe (no --recipe)"
    s = {
        "optimizer": Setting("nesterov", ours(why)),
        "lr": Setting(0.1 if has_batchnorm else 0.01, ours(why + ": 0.1 with BatchNorm, 0.01 without")),
        "momentum": Setting(0.9, ours(why)),
        "weight_decay": Setting(5e-4, ours(why)),
        "batch_size": Setting(128, ours(why)),
        "schedule": Setting("cosine", ours(why)),
        "epochs": Setting(DEFAULT_EPOCHS.get(dataset, 30), ours(why + ", per dataset")),
        "augment": Setting(DEFAULT_AUGMENT.get(dataset, "crop-flip"), ours(why + ", per dataset")),
        "label_smoothing": Setting(0.0, ours(why)),
        "grad_clip": Setting(0.0, ours(why)),
        "warmup_steps": Setting(0, ours(why)),
        "aux_weight": Setting(0.3 if has_aux else 0.0, SZEGEDY2014 if has_aux else "no auxiliary heads"),
    }
    return Recipe(name="default", summary=f"default for {model} on {dataset}", settings=s)


# -- the schedule ------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule over optimizer steps (all positions in steps)."""

    kind: str
    lr: float
    total_steps: int
    steps_per_epoch: int
    milestones: tuple[int, ...] = ()  # multistep: steps; step: (period,)
    gamma: float = 0.1
    warmup_steps: int = 0
    warmup_lr: float | None = None


def lr_at(s: Schedule, step: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based)."""
    if step < s.warmup_steps:
        if s.warmup_lr is not None:
            return s.warmup_lr
        return s.lr * (step + 1) / s.warmup_steps
    if s.kind == "constant":
        return s.lr
    if s.kind == "multistep":
        return s.lr * s.gamma ** sum(step >= m for m in s.milestones)
    if s.kind == "step":
        return s.lr * s.gamma ** (step // s.milestones[0])
    if s.kind == "exponential":
        return s.lr * s.gamma ** (step / s.steps_per_epoch)
    span = max(1, s.total_steps - s.warmup_steps)
    t = (step - s.warmup_steps) / span  # 0 .. 1 after warm-up
    if s.kind == "cosine":
        return s.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if s.kind == "onecycle":
        # without warm-up steps: a linear ramp from lr/25 to lr over the first 25%, then linear to 0
        if s.warmup_steps == 0:
            rise = max(1, round(0.25 * s.total_steps))
            if step < rise:
                return s.lr * (1 / 25 + (1 - 1 / 25) * step / rise)
            return s.lr * max(0.0, (s.total_steps - step) / max(1, s.total_steps - rise))
        return s.lr * max(0.0, 1.0 - t)
    raise AssertionError(s.kind)


def build_schedule(cfg: Any, steps_per_epoch: int) -> Schedule:
    """The :class:`Schedule` of a resolved config, counted in steps.

    Milestones are in the unit of the length (steps when ``cfg.steps`` is set,
    else epochs); :func:`resolve` has already rescaled a recipe's milestones.
    """
    spe = steps_per_epoch
    if cfg.steps:
        total, unit = int(cfg.steps), 1.0
    else:
        total, unit = max(1, round(float(cfg.epochs) * spe)), float(spe)
    steps_ms = [round(m * unit) for m in (cfg.milestones or [])]
    if cfg.schedule in ("multistep", "step") and not steps_ms:
        raise InvalidInputError(f"schedule {cfg.schedule!r} needs --milestones (step: one value, the period).")
    if cfg.schedule == "step":
        if cfg.milestones[0] <= 0:
            raise InvalidInputError(f"the step schedule's period (--milestones) must be positive, got "
                                    f"{cfg.milestones[0]}.")
        steps_ms = [max(1, steps_ms[0])]  # a very short rescaled run: at least one step per period
    return Schedule(
        kind=cfg.schedule, lr=float(cfg.lr), total_steps=total, steps_per_epoch=spe,
        milestones=tuple(steps_ms), gamma=float(cfg.gamma), warmup_steps=int(cfg.warmup_steps or 0),
        warmup_lr=cfg.warmup_lr,
    )


# Values for options that neither the user nor the recipe set (torch's defaults where they exist).
FALLBACKS: dict[str, Any] = {
    "momentum": 0.9, "weight_decay": 0.0, "rmsprop_decay": 0.99, "rmsprop_eps": 1e-8, "gamma": 0.1,
    "grad_clip": 0.0, "label_smoothing": 0.0, "aux_weight": 0.0, "warmup_steps": 0, "augment": "none",
    "bias_decay": True,
}


#: Part of the ``aux_weight`` source when a recipe's auxiliary loss is dropped (the model has no aux heads).
AUX_DROPPED = "built without auxiliary heads"


def notices(cfg: Any, sources: dict[str, str]) -> list[str]:
    """What a user should hear about the resolved recipe: a model it was not written for, a dropped aux loss."""
    out = []
    if cfg.recipe:
        recipe = get_recipe(cfg.recipe)
        if not any(fnmatch.fnmatchcase(cfg.model, pat) for pat in recipe.models):
            out.append(f"note: recipe {recipe.name} was written for {', '.join(recipe.models)}; {cfg.model} "
                       "trains with its settings as they are.")
    if AUX_DROPPED in sources.get("aux_weight", ""):
        out.append(f"note: aux_weight {sources['aux_weight']}")
    return out


def resolve(cfg: Any, *, has_batchnorm: bool, has_aux: bool) -> tuple[Any, dict[str, str]]:
    """Fill every unset option of ``cfg`` from its recipe; return it with each value's source.

    The user's ``--epochs``/``--steps`` replace the recipe's length, and the
    recipe's milestones (unless the user gave ``--milestones``) become the same
    fractions of the new length, in its unit.
    """
    if cfg.epochs is not None and cfg.steps is not None:
        raise InvalidInputError("give --epochs or --steps, not both.")
    for name in ("epochs", "steps", "batch_size"):
        v = getattr(cfg, name)
        if v is not None and v <= 0:
            raise InvalidInputError(f"--{name.replace('_', '-')} must be positive, got {v}.")
    recipe = (get_recipe(cfg.recipe) if cfg.recipe
              else default_recipe(cfg.model, cfg.dataset, has_batchnorm=has_batchnorm, has_aux=has_aux))
    rv, rs = recipe.values(cfg.model), recipe.sources(cfg.model)
    user_length = cfg.epochs is not None or cfg.steps is not None
    changes: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for k, v in rv.items():
        if k in ("epochs", "steps") and user_length:
            continue
        if getattr(cfg, k, None) is None:
            changes[k] = list(v) if isinstance(v, list) else v
            sources[k] = f"recipe {recipe.name}: {rs[k]}"
    if cfg.milestones is None and rv.get("milestones") and user_length:
        r_len = float(rv.get("steps") or rv.get("epochs"))
        n_len = float(cfg.steps or cfg.epochs)
        changes["milestones"] = [m / r_len * n_len for m in rv["milestones"]]
        sources["milestones"] = f"recipe {recipe.name}, rescaled to the length {n_len:g}: {rs['milestones']}"
    for k, v in FALLBACKS.items():
        if getattr(cfg, k, None) is None and k not in changes:
            changes[k] = v
            sources[k] = "fallback"
    out = cfg.replace(**changes)
    if out.epochs is None and out.steps is None:
        raise InvalidInputError("no training length: give --epochs or --steps.")
    missing = [k for k in ("optimizer", "lr", "batch_size", "schedule") if getattr(out, k) is None]
    if missing:  # pragma: no cover - every recipe sets these
        raise InvalidInputError(f"recipe {recipe.name} leaves {', '.join(missing)} unset.")
    if out.aux_weight and not has_aux and cfg.aux_weight is None:
        out = out.replace(aux_weight=0.0)
        sources["aux_weight"] = (f"recipe {recipe.name} weighs auxiliary losses, but {cfg.model} was {AUX_DROPPED} "
                                 "(--model-arg aux_logits=true adds them): 0")
    elif out.aux_weight and not has_aux:
        raise InvalidInputError(f"--aux-weight {out.aux_weight}: {cfg.model} has no auxiliary heads "
                                "(for googlenet/inception_v3 pass --model-arg aux_logits=true).")
    return out, sources

"""Published figures the project reproduces, each with the paper and table it comes from.

This is the one place such numbers live; tests and tables compare the models
against it.  Conventions: *params* count learnable tensors only (BatchNorm
running statistics are buffers); *MACs* are multiply-accumulates of conv and
linear layers (the papers' "FLOPs"/"ops" for these networks are multiply-adds);
FLOPs = 2 x MACs.  Figures given by a paper only to its own rounding carry
that rounding in ``rel_tol``.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- sources ---------------------------------------------------------------
HE2015 = "He, Zhang, Ren, Sun 2015, Deep Residual Learning for Image Recognition (arXiv:1512.03385)"
SZEGEDY2014 = "Szegedy et al. 2014, Going Deeper with Convolutions (arXiv:1409.4842)"
SZEGEDY2015 = "Szegedy et al. 2015, Rethinking the Inception Architecture for Computer Vision (arXiv:1512.00567)"
LIN2013 = "Lin, Chen, Yan 2013, Network In Network (arXiv:1312.4400)"
IOFFE2015 = "Ioffe, Szegedy 2015, Batch Normalization (arXiv:1502.03167)"
VEIT2016 = "Veit, Wilber, Belongie 2016, Residual Networks Behave Like Ensembles of Relatively Shallow Networks"
KRIZHEVSKY2012 = "Krizhevsky, Sutskever, Hinton 2012, ImageNet Classification with Deep CNNs"
SIMONYAN2014 = "Simonyan, Zisserman 2014, Very Deep Convolutional Networks (arXiv:1409.1556)"
HE2016 = "He, Zhang, Ren, Sun 2016, Identity Mappings in Deep Residual Networks (arXiv:1603.05027)"
ZAGORUYKO2016 = "Zagoruyko, Komodakis 2016, Wide Residual Networks (arXiv:1605.07146v4)"
IDELBAYEV2018 = ("Idelbayev 2018, Proper ResNet implementation for CIFAR10/CIFAR100 in PyTorch "
                 "(github.com/akamaster/pytorch_resnet_cifar10)")
WRN_LOG = "the authors' training log and wide-resnet.lua (exact trainable count, 10 classes)"
TORCHVISION = "torchvision.models (the de-facto reference layout; counts of its published models)"


@dataclass(frozen=True)
class Figure:
    """A published number with its source and the tolerance its rounding implies."""

    value: float
    source: str
    rel_tol: float = 0.0
    note: str = ""


# -- parameter counts (exact) ---------------------------------------------
PARAMS: dict[str, Figure] = {
    # ImageNet ResNets, shortcut option B; layout identical to torchvision's.
    "resnet18": Figure(11_689_512, f"{HE2015}, Table 1; {TORCHVISION}"),
    "resnet34": Figure(21_797_672, f"{HE2015}, Table 1; {TORCHVISION}"),
    "resnet50": Figure(25_557_032, f"{HE2015}, Table 1; {TORCHVISION}"),
    "resnet101": Figure(44_549_160, f"{HE2015}, Table 1; {TORCHVISION}"),
    "resnet152": Figure(60_192_808, f"{HE2015}, Table 1; {TORCHVISION}"),
    # CIFAR ResNets, option A (the plain twins have exactly the same count).
    "resnet20": Figure(269_722, f"{HE2015}, Table 6 (0.27M)"),
    "resnet32": Figure(464_154, f"{HE2015}, Table 6 (0.46M)"),
    "resnet44": Figure(658_586, f"{HE2015}, Table 6 (0.66M)"),
    "resnet56": Figure(853_018, f"{HE2015}, Table 6 (0.85M)"),
    "resnet110": Figure(1_727_962, f"{HE2015}, Table 6 (1.7M)"),
    "resnet1202": Figure(19_421_274, f"{HE2015}, Table 6 (19.4M)"),
    "plain20": Figure(269_722, f"{HE2015}, Sec. 4.2 (same layers as resnet20, no shortcuts)"),
    "plain32": Figure(464_154, f"{HE2015}, Sec. 4.2"),
    "plain44": Figure(658_586, f"{HE2015}, Sec. 4.2"),
    "plain56": Figure(853_018, f"{HE2015}, Sec. 4.2"),
    "plain110": Figure(1_727_962, f"{HE2015}, Sec. 4.2"),
    # Comparison networks.
    "alexnet": Figure(61_100_840, f"{KRIZHEVSKY2012}; single-tower layout of {TORCHVISION}"),
    "vgg11": Figure(132_863_336, f"{SIMONYAN2014}, Table 2 (133M); {TORCHVISION}"),
    "vgg11_bn": Figure(132_868_840, f"{SIMONYAN2014} + BatchNorm; {TORCHVISION}"),
    "vgg13": Figure(133_047_848, f"{SIMONYAN2014}, Table 2 (133M); {TORCHVISION}"),
    "vgg13_bn": Figure(133_053_736, f"{SIMONYAN2014} + BatchNorm; {TORCHVISION}"),
    "vgg16": Figure(138_357_544, f"{SIMONYAN2014}, Table 2 (138M)"),
    "vgg16_bn": Figure(138_365_992, f"{SIMONYAN2014} + BatchNorm; {TORCHVISION}"),
    "vgg19": Figure(143_667_240, f"{SIMONYAN2014}, Table 2 (144M)"),
    "vgg19_bn": Figure(143_678_248, f"{SIMONYAN2014} + BatchNorm; {TORCHVISION}"),
    # Network in Network, Inception.
    "nin_cifar10": Figure(966_986, f"{LIN2013}, CIFAR-10 model"),
    "googlenet": Figure(6_998_552, f"{SZEGEDY2014}, Table 1 (true 5x5, biases, no BN, no aux heads)"),
    "googlenet_torchvision": Figure(6_624_904, f"{TORCHVISION} googlenet without aux heads"),
    "googlenet_torchvision_aux": Figure(13_004_888, f"{TORCHVISION} googlenet with aux heads"),
    "inception_v3": Figure(23_834_568, f"{SZEGEDY2015}; {TORCHVISION} layout, no aux head"),
    "inception_v3_aux": Figure(27_161_264, f"{SZEGEDY2015}; {TORCHVISION} layout, with aux head"),
    # Pre-activation ResNets (projection shortcuts without BN where the shape changes, as the authors' code).
    "preact_resnet110": Figure(1_730_522, f"{HE2016}, Table 3 (1.7M)"),
    "preact_resnet164": Figure(1_703_258, f"{HE2016}, Table 3 (1.7M; 1,703,258 in the authors' logs)"),
    "preact_resnet1001": Figure(10_327_706, f"{HE2016}, Table 3 (10.2M, a count without BN parameters)"),
    # Wide ResNets: exact counts of the authors' code; the paper prints them rounded (PARAMS_PRINTED_M).
    "wrn16_4": Figure(2_748_890, f"{ZAGORUYKO2016}; {WRN_LOG} (not printed in the paper)"),
    "wrn16_8": Figure(10_961_370, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG}"),
    "wrn16_10": Figure(17_116_634, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG}"),
    "wrn22_8": Figure(17_158_106, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG}"),
    "wrn28_10": Figure(36_479_194, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG}"),
    "wrn40_1": Figure(563_930, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG}"),
    "wrn40_2": Figure(2_243_546, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG}"),
    "wrn40_4": Figure(8_949_210, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG} (8,949,210 in the official log)"),
    "wrn40_8": Figure(35_748_314, f"{ZAGORUYKO2016}, Table 4; {WRN_LOG}"),
    # torchvision's wide ResNets (bottleneck inner width doubled).
    "wide_resnet50_2": Figure(68_883_240, f"{TORCHVISION} wide_resnet50_2"),
    "wide_resnet101_2": Figure(126_886_696, f"{TORCHVISION} wide_resnet101_2"),
}

#: Parameter counts as the papers print them, in millions rounded to 0.1M (tests round ours to compare).
#: ResNet-1001's 10.2M leaves out the BN parameters (10.33M with them): ``bn=False`` marks that.
PARAMS_PRINTED_M: dict[str, Figure] = {
    "preact_resnet110": Figure(1.7, f"{HE2016}, Table 3"),
    "preact_resnet164": Figure(1.7, f"{HE2016}, Table 3"),
    "preact_resnet1001": Figure(10.2, f"{HE2016}, Table 3", note="bn=False"),
    "wrn16_8": Figure(11.0, f"{ZAGORUYKO2016}, Table 4"),
    "wrn16_10": Figure(17.1, f"{ZAGORUYKO2016}, Table 4"),
    "wrn22_8": Figure(17.2, f"{ZAGORUYKO2016}, Table 4"),
    "wrn28_10": Figure(36.5, f"{ZAGORUYKO2016}, Table 4"),
    "wrn40_1": Figure(0.6, f"{ZAGORUYKO2016}, Table 4"),
    "wrn40_2": Figure(2.2, f"{ZAGORUYKO2016}, Table 4"),
    "wrn40_4": Figure(8.9, f"{ZAGORUYKO2016}, Table 4"),
    "wrn40_8": Figure(35.7, f"{ZAGORUYKO2016}, Table 4"),
}

# CIFAR ResNets with projection shortcuts where the shape changes (option B).
PARAMS_CIFAR_OPTION_B: dict[str, Figure] = {
    "resnet20": Figure(272_474, f"{HE2015}, Sec. 4.2 (option B)"),
    "resnet32": Figure(466_906, f"{HE2015}, Sec. 4.2 (option B)"),
    "resnet44": Figure(661_338, f"{HE2015}, Sec. 4.2 (option B)"),
    "resnet56": Figure(855_770, f"{HE2015}, Sec. 4.2 (option B)"),
    "resnet110": Figure(1_730_714, f"{HE2015}, Sec. 4.2 (option B)"),
    "resnet1202": Figure(19_424_026, f"{HE2015}, Sec. 4.2 (option B)"),
}

# -- multiply-accumulates (conv + fc only) ----------------------------------
_G = 1e9
_M = 1e6
MACS: dict[str, Figure] = {
    # 224x224; stride on the bottleneck's first 1x1 ("v1", the paper's).
    "resnet18": Figure(1.81 * _G, f"{HE2015}, Table 1 (1.8e9)", rel_tol=0.01 / 1.81),
    "resnet34": Figure(3.66 * _G, f"{HE2015}, Table 1 (3.6e9)", rel_tol=0.01 / 3.66),
    "resnet50": Figure(3.86 * _G, f"{HE2015}, Table 1 (3.8e9)", rel_tol=0.01 / 3.86),
    "resnet101": Figure(7.57 * _G, f"{HE2015}, Table 1 (7.6e9)", rel_tol=0.01 / 7.57),
    "resnet152": Figure(11.28 * _G, f"{HE2015}, Table 1 (11.3e9)", rel_tol=0.01 / 11.28),
    # 32x32 CIFAR nets.
    "resnet20": Figure(40.55 * _M, f"{HE2015}, Sec. 4.2 layout", rel_tol=0.01 / 40.55),
    "resnet32": Figure(68.86 * _M, f"{HE2015}, Sec. 4.2 layout", rel_tol=0.01 / 68.86),
    "resnet44": Figure(97.17 * _M, f"{HE2015}, Sec. 4.2 layout", rel_tol=0.01 / 97.17),
    "resnet56": Figure(125.49 * _M, f"{HE2015}, Sec. 4.2 layout", rel_tol=0.01 / 125.49),
    "resnet110": Figure(252.89 * _M, f"{HE2015}, Sec. 4.2 layout", rel_tol=0.01 / 252.89),
    "resnet1202": Figure(2829.24 * _M, f"{HE2015}, Sec. 4.2 layout", rel_tol=0.01 / 2829.24),
    "alexnet": Figure(0.71 * _G, f"{TORCHVISION} alexnet at 224x224", rel_tol=0.01),
    "vgg16": Figure(15.47 * _G, f"{SIMONYAN2014} at 224x224", rel_tol=0.005),
    "vgg19": Figure(19.63 * _G, f"{SIMONYAN2014} at 224x224", rel_tol=0.005),
    "nin_cifar10": Figure(222.5 * _M, f"{LIN2013}, CIFAR-10 model at 32x32", rel_tol=0.005),
    "googlenet": Figure(1.58 * _G, f"{SZEGEDY2014}, Table 1 (about 1.5G ops)", rel_tol=0.01),
    "inception_v3": Figure(5.71 * _G, f"{SZEGEDY2015} ('5 billion multiply-adds')", rel_tol=0.01),
}

# ResNet-50/101/152 with the stride on the 3x3 ("v1.5", torchvision).
MACS_RESNET_V1_5: dict[str, Figure] = {
    "resnet18": Figure(1.81 * _G, TORCHVISION, rel_tol=0.01 / 1.81),
    "resnet34": Figure(3.66 * _G, TORCHVISION, rel_tol=0.01 / 3.66),
    "resnet50": Figure(4.09 * _G, TORCHVISION, rel_tol=0.01 / 4.09),
    "resnet101": Figure(7.80 * _G, TORCHVISION, rel_tol=0.01 / 7.80),
    "resnet152": Figure(11.51 * _G, TORCHVISION, rel_tol=0.01 / 11.51),
}

# The ResNet paper's FLOPs row of Table 1 as printed (multiply-adds, x 1e9).
RESNET_TABLE1_FLOPS: dict[str, Figure] = {
    "resnet18": Figure(1.8e9, f"{HE2015}, Table 1"),
    "resnet34": Figure(3.6e9, f"{HE2015}, Table 1"),
    "resnet50": Figure(3.8e9, f"{HE2015}, Table 1"),
    "resnet101": Figure(7.6e9, f"{HE2015}, Table 1"),
    "resnet152": Figure(11.3e9, f"{HE2015}, Table 1"),
}

# Share of parameters in the fully connected layers.
FC_PARAM_SHARE: dict[str, Figure] = {
    "alexnet": Figure(0.96, "lecture; computed from the torchvision layout", rel_tol=0.01 / 0.96),
    "vgg16": Figure(0.89, "lecture; computed from Simonyan & Zisserman's configuration D", rel_tol=0.01 / 0.89),
    "vgg19": Figure(0.86, "lecture; computed from configuration E", rel_tol=0.01 / 0.86),
}

# -- GoogLeNet, Table 1 of Szegedy et al. 2014 -------------------------------
# Columns: output (H, W, C), #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj,
# params in K = 1024 weights (biases not counted), ops (multiply-adds) in M.
_GOOGLENET_TABLE1_TEXT = """
name         output      n1   reduce3  n3   reduce5  n5   pool  params_k  ops_m
conv1        112x112x64  -    -        -    -        -    -     2.7       34
conv2        56x56x192   -    64       192  -        -    -     112       360
inception3a  28x28x256   64   96       128  16       32   32    159       128
inception3b  28x28x480   128  128      192  32       96   64    380       304
inception4a  14x14x512   192  96       208  16       48   64    364       73
inception4b  14x14x512   160  112      224  24       64   64    437       88
inception4c  14x14x512   128  128      256  24       64   64    463       100
inception4d  14x14x528   112  144      288  32       64   64    580       119
inception4e  14x14x832   256  160      320  32       128  128   840       170
inception5a  7x7x832     256  160      320  32       128  128   1072      54
inception5b  7x7x1024    384  192      384  48       128  128   1388      71
fc           1x1x1000    -    -        -    -        -    -     1000      1
"""


def _parse_table(text: str) -> dict[str, dict[str, object]]:
    """Rows of a whitespace-separated table: ``-`` is a blank cell, ``HxWxC`` a shape, else a number."""
    header, *rows = (line.split() for line in text.strip().splitlines())
    table: dict[str, dict[str, object]] = {}
    for name, *cells in rows:
        row: dict[str, object] = {}
        for column, cell in zip(header[1:], cells, strict=True):
            if cell != "-":
                row[column] = tuple(map(int, cell.split("x"))) if "x" in cell else _number(cell)
        table[name] = row
    return table


def _number(cell: str) -> int | float:
    return float(cell) if "." in cell else int(cell)


GOOGLENET_TABLE1 = _parse_table(_GOOGLENET_TABLE1_TEXT)
GOOGLENET_TABLE1_SOURCE = f"{SZEGEDY2014}, Table 1"

# -- factorized convolutions: relative savings in params and MACs -------------
# Equal input and output channels.  Source: SZEGEDY2015 Sec. 3 (5x5, 3x3 rows);
# the lecture adds the 7x7 rows.
FACTORIZATION_SAVINGS: dict[str, Figure] = {
    "5x5->3x3,3x3": Figure(0.28, f"{SZEGEDY2015}, Sec. 3.1", rel_tol=0.01 / 0.28),
    "7x7->3x3,3x3,3x3": Figure(0.45, "lecture (7x7 -> three 3x3)", rel_tol=0.01 / 0.45),
    "3x3->2x2,2x2": Figure(0.11, f"{SZEGEDY2015}, Sec. 3.2", rel_tol=0.01 / 0.11),
    "3x3->1x3,3x1": Figure(0.33, f"{SZEGEDY2015}, Sec. 3.2", rel_tol=0.01 / 0.33),
    "7x7->1x7,7x1": Figure(0.71, "lecture (7x7 -> 1x7 + 7x1)", rel_tol=0.01 / 0.71),
}

# -- published errors (%) ----------------------------------------------------
TEST_ERROR_PERCENT: dict[str, Figure] = {
    "resnet20/cifar10": Figure(8.75, f"{HE2015}, Table 6"),
    "resnet32/cifar10": Figure(7.51, f"{HE2015}, Table 6"),
    "resnet44/cifar10": Figure(7.17, f"{HE2015}, Table 6"),
    "resnet56/cifar10": Figure(6.97, f"{HE2015}, Table 6"),
    "resnet110/cifar10": Figure(6.43, f"{HE2015}, Table 6 (best of 5; mean 6.61 +- 0.16)"),
    "resnet1202/cifar10": Figure(7.93, f"{HE2015}, Table 6"),
    "nin_cifar10/cifar10": Figure(10.41, f"{LIN2013}, Table 1 (no augmentation)"),
    "nin_cifar10/cifar10+aug": Figure(8.81, f"{LIN2013}, Table 1 (with augmentation)"),
    "nin_fc/cifar10": Figure(11.59, f"{LIN2013}, Table 5 (mlpconv + fully connected layers, no augmentation)",
                             note="10.88 with dropout on the fully connected layers; 10.41 with global average "
                                  "pooling"),
    "nin/cifar100": Figure(35.68, f"{LIN2013}, Table 2"),
    "nin/svhn": Figure(2.35, f"{LIN2013}, Table 3"),
    "nin/mnist": Figure(0.47, f"{LIN2013}, Table 4"),
    "plain18/imagenet_top1_10crop": Figure(27.94, f"{HE2015}, Table 2"),
    "plain34/imagenet_top1_10crop": Figure(28.54, f"{HE2015}, Table 2"),
    "resnet18/imagenet_top1_10crop": Figure(27.88, f"{HE2015}, Table 2"),
    "resnet34/imagenet_top1_10crop": Figure(25.03, f"{HE2015}, Table 2"),
    "googlenet/imagenet_top5": Figure(6.67, f"{SZEGEDY2014}, ILSVRC 2014 result"),
    "inception_v3/imagenet_top1": Figure(21.2, f"{SZEGEDY2015}, single crop 299x299"),
    "inception_v3/imagenet_top5": Figure(5.6, f"{SZEGEDY2015}, single crop 299x299"),
    # Pre-activation ResNets, CIFAR-10 (pre-activation units; the original units in the note).
    "preact_resnet110/cifar10": Figure(6.37, f"{HE2016}, Table 3", note="original units 6.61"),
    "preact_resnet164/cifar10": Figure(5.46, f"{HE2016}, Table 3", note="original units 5.93"),
    "preact_resnet1001/cifar10": Figure(4.92, f"{HE2016}, Table 3 (4.89 +- 0.14 over 5 runs)",
                                        note="original units 7.61; 4.62 with batch 64 (Table 4)"),
    "preact_resnet164/cifar100": Figure(24.33, f"{HE2016}, Table 3"),
    "preact_resnet1001/cifar100": Figure(22.71, f"{HE2016}, Table 3"),
    # Wide ResNets, CIFAR-10 (ZCA whitening in Table 4; mean/std normalization in Table 5).
    "wrn40_1/cifar10": Figure(6.85, f"{ZAGORUYKO2016}, Table 4 (ZCA)"),
    "wrn40_4/cifar10": Figure(4.53, f"{ZAGORUYKO2016}, Table 5 (mean/std; 4.97 with ZCA, Table 4)"),
    "wrn16_8/cifar10": Figure(4.27, f"{ZAGORUYKO2016}, Table 5"),
    "wrn28_10/cifar10": Figure(4.00, f"{ZAGORUYKO2016}, Table 5 (3.89 with dropout 0.3, Table 6)"),
    "wrn16_4/cifar10": Figure(5.02, f"{ZAGORUYKO2016}, Table 6 (5.24 with dropout 0.3: no gain)"),
    "wrn40_1/cifar100": Figure(30.89, f"{ZAGORUYKO2016}, Table 4 (ZCA)"),
    "wrn28_10/cifar100": Figure(19.25, f"{ZAGORUYKO2016}, Table 5 (18.85 with dropout 0.3, Table 6)"),
    "wide_resnet50_2/imagenet_top1_torchvision": Figure(100 - 78.468, f"{TORCHVISION} (V1 weights, acc@1 78.468)"),
    "wide_resnet101_2/imagenet_top1_torchvision": Figure(100 - 78.848, f"{TORCHVISION} (V1 weights, acc@1 78.848)"),
}

#: Training lengths (epochs) behind published CIFAR-10 errors, for time-to-accuracy comparisons.
EPOCHS: dict[str, Figure] = {
    "resnet20/cifar10": Figure(163.84, f"{HE2015}, Sec. 4.2 (64k iterations of batch 128 over the 50k training "
                                       "images; the length was chosen on a 45k/5k split)"),
}

#: Peers' published errors (%) of the same nets, for context beside ours (not reproductions of a paper).
PEER_TEST_ERROR_PERCENT: dict[str, Figure] = {
    "resnet20/cifar10": Figure(8.27, f"{IDELBAYEV2018}, README table (200 epochs)"),
}


def published_params(name: str) -> int | None:
    """The published parameter count of a registered model at its defaults, if known."""
    fig = PARAMS.get(name)
    return None if fig is None else int(fig.value)


# -- the figures of one model ---------------------------------------------------
#: The tables above keyed by model name, with what their values are (for :func:`describe`).
_MODEL_TABLES: tuple[tuple[str, dict[str, Figure], str], ...] = (
    ("parameters", PARAMS, "count"),
    ("parameters with option B shortcuts", PARAMS_CIFAR_OPTION_B, "count"),
    ("multiply-adds", MACS, "macs"),
    ("multiply-adds, stride on the 3x3 (v1.5)", MACS_RESNET_V1_5, "macs"),
    ("FLOPs as printed", RESNET_TABLE1_FLOPS, "macs"),
    ("share of the parameters in fc layers", FC_PARAM_SHARE, "share"),
)


def _format(value: float, kind: str) -> str:
    if kind == "count":
        return f"{int(value):,}"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "percent":
        return f"{value:g}%"
    return f"{value / _G:.2f} G" if value >= _G else f"{value / _M:.2f} M"


#: Keys of figures for a model's non-default options, by the model they belong to.
_OPTION_KEYS = {
    "googlenet": ("googlenet_torchvision", "googlenet_torchvision_aux"),
    "inception_v3": ("inception_v3_aux",),
}


def describe(name: str) -> str:
    """The published figures of model ``name``, one line each with its source ("" when there are none)."""
    keys = (name, *_OPTION_KEYS.get(name, ()))
    rows = [(f"{label} [{key}]" if key != name else label, table[key], kind)
            for key in keys for label, table, kind in _MODEL_TABLES if key in table]
    for key, fig in TEST_ERROR_PERCENT.items():
        model, _, setting = key.partition("/")
        if model == name:
            rows.append((f"error on {setting}", fig, "percent"))
    if not rows:
        return ""
    lines = [f"    {label}: {_format(fig.value, kind)} ({fig.source})" for label, fig, kind in rows]
    return "\n".join(["Published figures (classicnets.reference):", *lines])

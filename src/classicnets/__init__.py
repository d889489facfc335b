"""classicnets: the classic convolutional networks, built as the papers describe them.

>>> import classicnets
>>> model = classicnets.create_model("resnet20")          # CIFAR ResNet-20, 269,722 params
>>> classicnets.list_models("plain*")[:3]
['plain110', 'plain18', 'plain20']
"""

from .models import (
    create_model,
    fold_batchnorm,
    list_models,
    load_weights,
    model_options,
    save_weights,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "create_model",
    "fold_batchnorm",
    "list_models",
    "load_weights",
    "model_options",
    "save_weights",
]

"""DenseNet (ModelZoo densenet recipe): registers densenet121/161/169/201 and the CIFAR densenet100."""
from model_zoo.densenet121 import recipe, weights  # noqa: F401  (registration side effect)

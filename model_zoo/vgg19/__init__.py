"""VGG (ModelZoo vgg19 recipe): registers vgg11/13/16/19 (+_bn), vgg11_lrn (A-LRN) and vgg16_c (C)."""
from model_zoo.vgg19 import recipe, weights  # noqa: F401  (registration side effect)

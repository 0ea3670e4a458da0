"""InceptionV4 (ModelZoo inceptionv4 recipe): registers inception_v4."""
from model_zoo.inceptionv4 import recipe, weights  # noqa: F401  (registration side effect)

"""InceptionV4 model-owned modules: network definition and init."""

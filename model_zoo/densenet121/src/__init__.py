"""DenseNet model-owned modules: network definition and init."""

"""VGG model-owned modules: network, init, transforms, schedules and loss of the recipe."""

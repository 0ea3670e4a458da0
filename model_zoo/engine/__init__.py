"""The shared engine: config, devices, data, schedules, losses, training, evaluation and export.

Nothing in here imports a model folder: models register themselves (:mod:`model_zoo.engine.registry`).
This ``__init__`` stays import-light so that :mod:`model_zoo.engine.cpu_env` can run before MindSpore loads.
"""

"""User-facing errors: one line that says what is wrong and what to do, and a non-zero exit."""


class ZooError(Exception):
    """An error caused by the user's input (files, flags, config, device).  Printed as one line."""

    exit_code = 2

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(ZooError):
    """Unknown key, bad value or unreadable config file."""


class MissingKeyError(ConfigError, AttributeError):
    """``cfg.key`` for a key the config does not have: a one-line ConfigError for the user, and an AttributeError
    so that ``hasattr(cfg, key)`` and ``getattr(cfg, key, default)`` behave as for any Python object."""


class DataError(ZooError):
    """Missing, empty or corrupt data."""


class DeviceError(ZooError):
    """Device that MindSpore cannot use here, or a format it cannot produce."""

    exit_code = 1


class CheckpointError(ZooError):
    """Missing, corrupt or mismatched checkpoint."""


def first_line(exc):
    """The first line of an exception's message (its class name when empty), cut to 160 characters."""
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:160]

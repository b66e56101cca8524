"""Exceptions with messages a user can act on."""


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose. ``exit_code``: the CLI's exit status for it (1: a runtime
    failure; 2: a usage error, see :class:`UsageError`)."""

    exit_code = 1


class UsageError(ZooError):
    """What the user passed (an option, a config file, an input file) cannot be used; exit status 2."""

    exit_code = 2


class RegistryError(ZooError):
    """A registry file or entry is malformed; the message names the file, entry and key."""


class PluginError(ZooError):
    """A plugin failed to load or registered something invalid."""


class DataError(ZooError):
    """Bad input data; the message names the file, line and field."""


class InputError(DataError, UsageError):
    """A file the user named cannot be read as the CSV expected (missing, a directory, not UTF-8, empty, no data
    rows, a missing column, too few usable rows); exit status 2."""


class FeaturizerMismatch(ZooError):
    """Weights were trained with a different featurizer than the one requested."""


class DownloadError(ZooError):
    """A download failed, was refused (bad hash) or is impossible (offline)."""

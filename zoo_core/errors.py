"""Exceptions with messages a user can act on."""


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class RegistryError(ZooError):
    """A registry file or entry is malformed; the message names the file, entry and key."""


class PluginError(ZooError):
    """A plugin failed to load or registered something invalid."""


class DataError(ZooError):
    """Bad input data; the message names the file, line and field."""


class FeaturizerMismatch(ZooError):
    """Weights were trained with a different featurizer than the one requested."""


class DownloadError(ZooError):
    """A download failed, was refused (bad hash) or is impossible (offline)."""

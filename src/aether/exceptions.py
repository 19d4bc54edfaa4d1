"""The exception family of the package.

Every message names the offending file or value and states how to fix the
input, so that a user can act on the message without reading the code.
"""


class AetherError(Exception):
    """Base class of all errors raised by the package on invalid input."""


class ConfigError(AetherError):
    """The workflow configuration is invalid."""


class InvalidRasterError(AetherError):
    """An embedding raster has the wrong shape, encoding, CRS or values."""


class NoDataError(AetherError):
    """An area, window or table contains no valid data to work with."""


class InvalidPOIError(AetherError):
    """A POI source cannot be read or yields no usable POIs."""


class InvalidCheckpointError(AetherError):
    """A model checkpoint is missing fields or does not match its inputs."""

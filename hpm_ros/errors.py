"""Typed exceptions of hpm_ros: each names what was wrong with the input."""


class HpmError(Exception):
    """Base class of every hpm_ros error."""


class ImageEncodingError(HpmError, ValueError):
    """An image message or array that cannot be converted (encoding, size, layout)."""


class CheckpointError(HpmError):
    """A model checkpoint that is missing, truncated, of another format version or shape."""


class BackendUnavailableError(HpmError):
    """An inference backend whose runtime (library, device, engine file) is not available."""


class BagError(HpmError):
    """A rosbag2 file that cannot be read or lacks what the tool needs."""


class ConfigError(HpmError, ValueError):
    """A configuration with unknown keys or out-of-range values."""


class CalibrationError(HpmError, ValueError):
    """Camera intrinsics that cannot be used (non-finite, non-positive focal length, bad shape)."""

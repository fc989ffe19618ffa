"""Typed errors for images the engine cannot or will not fingerprint.

    ImageError                 base; ``code`` is a stable machine-readable reason
    ├── NotAnImageError        bytes are not a decodable image format
    ├── TruncatedImageError    the file ends early or is corrupt mid-stream
    ├── DecompressionBombError declared pixel count is over the safety limit
    ├── ImageTooLargeError     a side is absurdly long (or the file itself is too big)
    └── UnsupportedImageError  a format or mode we cannot turn into pixels

``LowInformationError`` is separate: the image decodes fine but is too plain to identify.
"""

from __future__ import annotations

from functools import partial
from typing import Any


class ImageError(ValueError):
    code = "invalid_image"

    def __init__(self, message: str, *, width: int | None = None, height: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.width = width
        self.height = height


class NotAnImageError(ImageError):
    code = "not_an_image"


class TruncatedImageError(ImageError):
    code = "truncated_image"


class DecompressionBombError(ImageError):
    code = "decompression_bomb"


class ImageTooLargeError(ImageError):
    code = "image_too_large"


class UnsupportedImageError(ImageError):
    code = "unsupported_image"


class LowInformationError(ValueError):
    """Raised when an image is too plain (fills, tiny icons) to register: it would match everything."""

    code = "low_information"

    def __init__(self, message: str, *, information: float) -> None:
        super().__init__(message)
        self.message = message
        self.information = information

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses process boundaries (``indexes.fingerprint_pool``); the default would drop
        # the keyword-only argument and fail to unpickle.
        return (partial(type(self), information=self.information), (self.message,))

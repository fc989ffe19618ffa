"""Pixels in, fingerprints and nearest registered works out. Knows nothing of creators or HTTP."""

from indexes.decode import DecodedImage, decode_image
from indexes.engine import Engine
from indexes.errors import (
    DecompressionBombError,
    ImageError,
    ImageTooLargeError,
    LowInformationError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageError,
)
from indexes.fingerprinting import Fingerprint, fingerprint, one_image_thread
from indexes.scoring import MATCH_THRESHOLD, REVIEW_THRESHOLD
from indexes.verdicts import Match

__all__ = [
    "MATCH_THRESHOLD",
    "REVIEW_THRESHOLD",
    "DecodedImage",
    "DecompressionBombError",
    "Engine",
    "Fingerprint",
    "ImageError",
    "ImageTooLargeError",
    "LowInformationError",
    "Match",
    "NotAnImageError",
    "TruncatedImageError",
    "UnsupportedImageError",
    "decode_image",
    "fingerprint",
    "one_image_thread",
]

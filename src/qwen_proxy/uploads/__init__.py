"""Files into Qwen's storage: images and documents clients attach, and long context as a file.

``Uploader`` does one upload (grant, signed PUT, parse) and reuses uploads by the digest of
their bytes.
"""

from qwen_proxy.uploads.media import (
    MAX_DOCUMENT_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    Media,
    data_url,
    text_document,
)
from qwen_proxy.uploads.uploader import Uploader

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "Media",
    "Uploader",
    "data_url",
    "text_document",
]

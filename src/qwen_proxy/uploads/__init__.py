"""Files into Qwen's storage: images and documents clients attach, and long context as a file.

``Attacher`` is the path every face shares (load the parts, upload per account, name them in
``files[]``); ``Uploader`` does one upload (grant, signed PUT, parse) and reuses uploads by the
digest of their bytes; ``RemoteFetcher`` fetches client URLs without reaching private networks.
"""

from qwen_proxy.uploads.attach import Attacher, Loaded
from qwen_proxy.uploads.fetch import RemoteFetcher
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
    "Attacher",
    "Loaded",
    "Media",
    "RemoteFetcher",
    "Uploader",
    "data_url",
    "text_document",
]

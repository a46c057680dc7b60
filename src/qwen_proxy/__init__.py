"""qwen-proxy: an OpenAI-compatible gateway to Qwen's web chat service."""

__version__ = "0.1.0"

"""The upstream: Qwen's web API v2. Pure protocol code here (payloads, headers, stream parser,
error classes and classification); ``client.py`` makes the calls over ``transport/``."""

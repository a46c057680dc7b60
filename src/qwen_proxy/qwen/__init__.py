"""The upstream: Qwen's web API v2. Pure protocol code (payloads, stream parser, error
classification) plus the aiohttp client that is the only part doing I/O."""

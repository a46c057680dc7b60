"""The upstream: Qwen's web API v2. Pure protocol code (payloads, headers, stream parser, error
classification), the client that drives each call (``client``), and under it the project's own
pooled HTTP/1.1 transport (``transport``), the only code here doing I/O."""

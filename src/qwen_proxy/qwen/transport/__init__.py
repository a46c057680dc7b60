"""The pooled HTTP/1.1 client to the upstream: the only socket code on the upstream side."""

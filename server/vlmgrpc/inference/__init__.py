"""Inference backends: the embedded Triton server and (later) clients for it."""

"""Engines behind the vlm-grpc Triton models (python backend), shared by every model in triton_models/."""

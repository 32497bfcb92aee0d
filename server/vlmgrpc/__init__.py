"""vlm-grpc: a gRPC service for vision-language jobs served by NVIDIA Triton."""

"""Servicers: thin gRPC adapters over the job layer (convert, call, convert back)."""

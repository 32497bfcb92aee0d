"""Test helpers for the engines: tiny random checkpoints built offline (no hub, no download)."""

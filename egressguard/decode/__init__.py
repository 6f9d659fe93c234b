"""Decoders: bytes off the wire into frozen packet and application-message values."""

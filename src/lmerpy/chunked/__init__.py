"""Data read in chunks: two passes (a schema, then cross-products) and fits from the result."""

from .schema import Schema

__all__ = ["Schema"]

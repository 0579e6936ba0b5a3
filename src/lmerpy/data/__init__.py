"""Data read in chunks (Parquet datasets, Dask DataFrames, DataFrames in slices): ``sources``
yield the chunks, ``schema`` is the first pass (variables, levels, ranges), ``encode`` turns a
chunk into its cross-products, ``passes`` runs both passes, and ``crossproducts`` holds the
result, which adds up, saves and loads."""

from .crossproducts import CrossProducts
from .passes import cross_products, scan
from .schema import Schema

__all__ = ["CrossProducts", "Schema", "cross_products", "scan"]

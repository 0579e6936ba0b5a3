"""Plumbing every layer may use: progress bars and the BLAS thread count."""

"""Benchmarks: scripts that print their figures (not tests). See README.md."""

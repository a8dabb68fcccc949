"""generative: a small, reusable library of generative model families.

Knows nothing about video or faces (a test enforces that it imports nothing
from ``stitchtime`` or ``pipelines``).
"""

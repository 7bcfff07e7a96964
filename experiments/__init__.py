"""One declarative experiment per paper figure and table (catalog.py), their runner and renderer."""

"""Command groups of the ``duban`` CLI beyond the core ones in ``cli.py``."""

"""Workflow declarations shipped with duban. Admins add their own in the folder named by
the ``workflows_dir`` setting; each module exposes ``WORKFLOW`` or ``WORKFLOWS``."""

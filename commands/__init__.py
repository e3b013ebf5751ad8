"""The ``duban`` command groups, one module each; ``cli.py`` puts them under one group.

Only ``click`` is imported when the CLI starts, so that ``duban --help`` stays fast; each
command imports the engine when it runs. Commands read options, call one service method and
format what comes back: every decision is the engine's.
"""

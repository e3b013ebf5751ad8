"""duban as a running program: the service assembled from its parts, the daemon, the demo.

The engine knows neither the packaged workflows nor the notifiers; :func:`build_service`
puts them together, as every program (the CLI, the daemon, the web server, the demo) and
every test does.
"""

from __future__ import annotations

from duban.app.assembly import build_service

__all__ = ["build_service"]

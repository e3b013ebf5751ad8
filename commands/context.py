"""What every command shares: the group's options, and the service built on first use."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duban.engine.access import Bearer, Identity
    from duban.engine.service import Service


class App:
    """The context object of the ``duban`` group (``ctx.obj``)."""

    def __init__(self, db: str | None, act_as: str | None, now: str | None,
                 config: str | None, debug: bool, token: str | None = None) -> None:
        self.db, self.act_as, self.now_text = db, act_as, now
        self.config, self.debug, self.token = config, debug, token
        self.json = False  # --json given before the command: its errors answer in JSON too
        self._service: Service | None = None

    @property
    def service(self) -> Service:
        if self._service is None:
            from duban.app import build_service
            from duban.engine.clock import FixedClock, SystemClock
            from duban.engine.settings import load_settings
            from duban.engine.timeutil import parse_instant, zone

            settings = load_settings(db=self.db, config_file=self.config)
            clock: Any = SystemClock()
            if self.now_text:
                clock = FixedClock(parse_instant(self.now_text, zone(settings.timezone)))
            self._service = build_service(settings, clock)
        return self._service

    def actor(self) -> Identity | Bearer:
        """Who runs this command: the operating-system login (and ``--as``), or the person a
        ``--token`` stands for. The engine checks it inside the command's transaction."""
        from duban.engine.access import Bearer, Identity

        if self.token:
            return Bearer(self.token)
        return Identity(os_login(), self.act_as)


def os_login() -> str:
    """The login of the user running the command: the real user id's name in the password
    database. ``LOGNAME`` and ``USER`` are not asked: anyone can set them, and the person at the
    shell must not become someone else by doing so."""
    import pwd

    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry, e.g. in a bare container
        return str(uid)

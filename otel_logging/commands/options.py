"""Flags whose defaults are read from a settings class, so that a default is written in one place.

A command registers each such flag with ``SettingsFlags.add(group, "--port", "receiver.grpc_port", ...)``:
the flag's default is ``default_of(<settings class>, "receiver.grpc_port")``, and the command can later
say which flag sets a setting that does not validate (``refuse``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from otel_logging.config import ConfigError, default_of


class SettingsFlags:
    """The flags of one command that set fields of ``settings_type`` (a dataclass), by dotted name."""

    def __init__(self, settings_type: type) -> None:
        self.settings_type = settings_type
        self.flags: dict[str, str] = {}  # setting ("receiver.grpc_port") -> flag ("--port")
        self.dests: dict[str, str] = {}  # setting -> the flag's attribute in the parsed arguments ("port")

    def add(self, group: Any, flag: str, setting: str, **kwargs: Any) -> argparse.Action:
        """``group.add_argument(flag, default=<the setting's default>, **kwargs)``."""
        if "default" in kwargs:
            raise TypeError(f"{flag}: the default comes from {self.settings_type.__name__}.{setting}")
        default = default_of(self.settings_type, setting)
        if kwargs.get("action") == "append":
            default = list(default)  # argparse appends to (a copy of) a list
        self.flags[setting] = flag
        action: argparse.Action = group.add_argument(flag, default=default, **kwargs)
        self.dests[setting] = action.dest
        return action

    def settings(self, args: argparse.Namespace, overrides: Mapping[str, Any] | None = None) -> Any:
        """``settings_type`` with every added flag's value (``overrides``: settings given otherwise, by name).

        A flag added with ``add`` always reaches its setting: nothing is mapped by hand."""
        values = {setting: getattr(args, dest) for setting, dest in self.dests.items()} | dict(overrides or {})
        parts: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for setting, value in values.items():
            part, _, name = setting.partition(".")
            if name:
                parts.setdefault(part, {})[name] = value
            else:
                top[part] = value
        for part, given in parts.items():
            top[part] = type(default_of(self.settings_type, part))(**given)
        return self.settings_type(**top)

    def note(self, flag: str, setting: str) -> None:
        """``flag`` sets ``setting`` but has no default of its own (None: the command decides)."""
        self.flags[setting] = flag

    def flag_of(self, setting: str | None) -> str | None:
        return self.flags.get(setting) if setting else None


def refuse(command: str, exc: Exception, *flag_sets: SettingsFlags) -> int:
    """Print one line naming the flag (when one sets the bad setting) and the error; exit status 2."""
    setting = exc.setting if isinstance(exc, ConfigError) else None
    flag = next((f for flags in flag_sets if (f := flags.flag_of(setting))), None)
    print(f"otel-logging {command}: " + (f"{flag}: " if flag else "") + str(exc), file=sys.stderr)
    return 2

"""`cybercoop keys …`: the node's keys that seal data at rest, and their rotation (docs/security-at-rest.md).

keys                                the keys, each with its current id, the previous ones and what each holds
keys NAME [status]                  one key (NAME: attachments, secrets, documents)
keys NAME rotate                    a new key; everything it seals re-wrapped under it; the old one kept
keys NAME rewrap                    what is still under a previous key, re-wrapped under the current one
keys NAME retire                    the previous keys nothing is under any more, deleted an hour after replacement

Run as the node's operator; the web and worker processes may go on serving. Each step is in the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cybercoop.core import keyring

STEPS = ("status", "rotate", "rewrap", "retire")


class Command(BaseCommand):
    help = "The node's keys at rest: status, rotate, rewrap, retire (docs/security-at-rest.md)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", nargs="?", help="Which key: " + ", ".join(keyring.rotations()) + ".")
        parser.add_argument("step", nargs="?", default="status", choices=STEPS, help="What to do (default: status).")

    def handle(self, *args: Any, **options: Any) -> None:
        rotations = keyring.rotations()
        if options["name"] is None:
            for name, rotation in rotations.items():
                self._status(name, rotation)
            return
        if options["name"] not in rotations:
            raise CommandError(f"no key {options['name']!r}: the keys are {', '.join(rotations)}")
        rotation = rotations[options["name"]]
        failed: list[str] = []
        step = options["step"]
        if step == "rotate":
            previous, current, count, failed = rotation.rotate()
            self.stdout.write(f"{rotation.key.name} {previous or '(none)'} replaced by {current}")
            self._rewrapped(rotation, count, failed)
        elif step == "rewrap":
            count, failed = rotation.rewrap()
            self._rewrapped(rotation, count, failed)
        elif step == "retire":
            retired, kept = rotation.retire()
            for identifier in retired:
                self.stdout.write(f"retired {identifier}")
            for identifier, why in kept.items():
                self.stdout.write(f"kept {identifier}: {why}")
            if not retired and not kept:
                self.stdout.write(f"no previous {rotation.key.name}")
        self._status(options["name"], rotation)
        if failed:
            raise SystemExit(1)

    def _status(self, name: str, rotation: keyring.Rotation) -> None:
        key, counts = rotation.key, rotation.in_use()
        current = key.current_id()
        self.stdout.write(f"{name}: {key.path()}")
        self.stdout.write(f"  current  {current or '(none yet)'}  {key.holds}: {counts.get(current or '', 0)}")
        for identifier, since in key.previous().items():
            when = dt.datetime.fromtimestamp(since, dt.UTC)
            self.stdout.write(
                f"  previous {identifier}  {key.holds}: {counts.get(identifier, 0)}, replaced {when:%Y-%m-%d %H:%M} UTC"
            )
        if counts.get(""):
            self.stdout.write(f"  not sealed (stored before encryption at rest)  {key.holds}: {counts['']}")

    def _rewrapped(self, rotation: keyring.Rotation, count: int, failed: list[str]) -> None:
        self.stdout.write(f"re-wrapped under the current key: {count} {rotation.key.holds}")
        if failed:
            self.stderr.write(
                f"not re-wrapped, their key is not held here or does not open them (the log says why): "
                f"{len(failed)} {rotation.key.holds}: {', '.join(failed[:20])}"
            )

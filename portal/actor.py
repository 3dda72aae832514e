"""The acting user as a value: views pass it to services, so services never read the request."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff member (id, role) from an address, or the system (CLI, upkeep)."""

    user_id: int | None
    role: str
    ip: str | None = None

    @classmethod
    def system(cls) -> "Actor":
        """The system itself (CLI commands, upkeep): no user, no address."""
        return cls(None, "system")

    def in_group(self, group: Collection[str]) -> bool:
        """True when the actor's role is in a role group (portal.auth.roles)."""
        return self.role in group

"""Domain commands of the CLI (imports, data protection); registered on `clausier`."""

from __future__ import annotations

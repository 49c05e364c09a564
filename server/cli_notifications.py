"""Notification commands of the CLI; registered on `clausier`."""

from __future__ import annotations

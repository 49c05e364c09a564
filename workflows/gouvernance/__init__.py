"""Governance: meetings and territory objectives."""

"""Indicators per territory, buyer and period against objectives; committee packs."""

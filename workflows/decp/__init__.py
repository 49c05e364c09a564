"""Import of the national open data on public contracts (DECP, format v2)."""

"""Bilan of a marché: figures, small-group suppression, CSV/XLSX/PDF exports."""

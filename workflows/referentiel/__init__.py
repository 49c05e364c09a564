"""Reference data: organisations, charters, territories, facilitators, holders, structures."""

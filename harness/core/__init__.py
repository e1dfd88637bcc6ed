"""Below everything: pixels (scalings, heads), settings and choices, run records and the config
key, locks, evaluation histories, where the repository is. No torch at import, so a bad command
line is refused before torch loads."""

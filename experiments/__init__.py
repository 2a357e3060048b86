"""Recipes (configs/) and studies (progression/) on top of cnnjax; run from the repository root."""

"""Deployment settings, in one typed place (`config.settings`)."""

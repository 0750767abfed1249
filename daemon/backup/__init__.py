"""Verified backups: archive, manifest, verify, restore."""

"""Vendor error bodies."""
CHECKS = ()

"""Test support code shared by several test packages (browser rendering, fixtures)."""

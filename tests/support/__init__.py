"""Helpers of the test suite: drivers, real-server launchers, apps and readers of scrapes."""

"""Shared plumbing for the shells above ``hld.core``: CLI reports, clocks, processes."""

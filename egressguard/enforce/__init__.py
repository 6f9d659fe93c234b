"""Enforcement: run the command as a watched process tree, attribute sockets, kill on violation."""

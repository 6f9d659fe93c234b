"""Reports: one Report value, rendered by interchangeable reporters (JSON, console)."""

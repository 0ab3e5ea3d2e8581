"""The `planflow` command line: a thin edge over `engine.service`."""

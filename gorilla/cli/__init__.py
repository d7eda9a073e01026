"""The `gorilla` command: thin typer layer that parses flags and calls the library."""

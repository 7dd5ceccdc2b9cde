"""placeholder while being written."""

COMMANDS: list = []

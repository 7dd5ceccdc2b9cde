"""placeholder: filled in by the snapshot spine work."""

COMMANDS: list = []

"""One module per command group; each command is ``run_<name>(args, ctx) -> exit code``."""

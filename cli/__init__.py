"""zoo_cli: the ``zoo`` command (Typer). Installed from the ``cli/`` folder under the import name ``zoo_cli``."""

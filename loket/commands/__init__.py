"""The ``loket`` command's sub-commands, one module per group (``loket.cli`` puts them together)."""

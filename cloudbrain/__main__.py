"""``python -m cloudbrain`` is the ``cloudbrain`` command."""

from cloudbrain.cli import main

main()

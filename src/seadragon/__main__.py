"""``python -m seadragon`` runs the command line."""

from seadragon.cli import main

main()

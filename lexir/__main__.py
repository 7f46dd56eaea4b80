"""`python -m lexir` runs the command line."""

from lexir.cli import main

main()

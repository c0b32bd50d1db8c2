"""`python -m paperboy`."""

from paperboy.cli import main

main()

"""`python -m cybercoop` is the `cybercoop` command."""

from cybercoop.cli import main

main()

"""``python -m statscache``."""

from statscache.cli import main

main()

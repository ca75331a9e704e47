"""``python -m hotline.cli``."""

from hotline.cli import main

main()

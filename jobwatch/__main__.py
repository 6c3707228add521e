"""``python -m jobwatch``: the same as the ``jobwatch`` command."""

from .cli import main

raise SystemExit(main())

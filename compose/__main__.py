"""``python -m compose`` runs the ``compose`` command."""

from compose.cli.main import main

raise SystemExit(main())

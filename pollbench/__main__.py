"""``python -m pollbench`` runs the command line."""

from pollbench.cli import main

raise SystemExit(main())

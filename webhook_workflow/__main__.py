"""``python -m webhook_workflow``: the command line (see :mod:`webhook_workflow.cli`)."""

from .cli import main

raise SystemExit(main())

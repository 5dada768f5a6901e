"""``python -m otelytics``: the same command line as the ``otelytics`` script."""

from otelytics.analysis.cli import main

raise SystemExit(main())

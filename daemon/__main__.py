"""python -m observer.daemon"""

from observer.daemon.cli import main

raise SystemExit(main())

"""`python -m convrec.cli` (e.g. under `accelerate launch -m convrec.cli train ...`)."""

from convrec.cli.parser import main

raise SystemExit(main())

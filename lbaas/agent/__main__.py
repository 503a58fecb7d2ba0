"""`python -m lbaas.agent ...` (the same as `lbaas agent ...`)."""

import sys

from lbaas.agent.main import main

sys.exit(main())

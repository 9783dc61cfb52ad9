"""`python -m pathsim.cli`: the `pathsim` command."""

import sys

from pathsim.cli import main

sys.exit(main())

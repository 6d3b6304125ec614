import sys

from neurosim.front.cli import main

sys.exit(main())

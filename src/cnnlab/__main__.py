"""``python -m cnnlab`` runs the command line (also the entry used by ``torchrun -m cnnlab``)."""

import sys

from cnnlab.cli.main import main

sys.exit(main())

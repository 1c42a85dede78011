"""`python -m neuron_operator` — the same commands as the `neuron-operator` script."""

import sys

from neuron_operator.cli import main

sys.exit(main())

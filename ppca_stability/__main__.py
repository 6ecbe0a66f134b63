"""``python -m ppca_stability``: the same as the ``ppca-stability`` command."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: the Asynq guide's shop (see examples/shop/README.md).

Kept so `python3 examples/demo.py [--rate N] [--duration S]` still works; it runs
`python3 -m examples.shop.run` with the same arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.shop.run import main

if __name__ == "__main__":
    sys.exit(main())

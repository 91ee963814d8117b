"""``python3 -m fastq.cli ...``: the same as ``fastq ...``."""

import sys

from fastq.cli.main import main

sys.exit(main())

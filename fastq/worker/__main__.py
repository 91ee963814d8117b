"""``python3 -m fastq.worker APP``: the same as ``fastq-worker APP``."""

import sys

from fastq.worker.cli import main

sys.exit(main())

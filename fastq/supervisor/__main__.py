"""``python3 -m fastq.supervisor APP``: the same as ``fastq-worker APP``."""

import sys

from fastq.supervisor.cli import main

sys.exit(main())

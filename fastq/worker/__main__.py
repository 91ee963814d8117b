"""``python3 -m fastq.worker module:app``: one standalone worker process."""

import sys

from fastq.worker.standalone import main

sys.exit(main())

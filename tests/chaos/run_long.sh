#!/bin/sh
# The long soak of the fault suite (see docs/reliability.md): 100,000-task kill -9
# storm, 30 s Redis outage, 10^6+ fuzz inputs. Numbers go to $FASTQ_CHAOS_REPORT
# (JSON lines; default chaos-report.jsonl in the current directory).
# Extra arguments go to pytest, e.g. `tests/chaos/run_long.sh -k kill_storm`.
set -eu
cd "$(dirname "$0")/../.."
export FASTQ_CHAOS_LONG=1
export FASTQ_CHAOS_REPORT="${FASTQ_CHAOS_REPORT:-$PWD/chaos-report.jsonl}"
exec python3 -m pytest tests/chaos -q -s -rxXs "$@"

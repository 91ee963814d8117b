"""One worker process (the engine): fetch -> run -> ack, leases, maintenance."""

"""The worker side: one worker process (engine) and the prefork supervisor around it."""

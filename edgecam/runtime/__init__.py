"""Runtime: the pipeline threads, controls, thermal control, systemd integration."""

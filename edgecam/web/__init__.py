"""The live view: a small web server inside the daemon (stream, stats, events, controls, zone editor)."""

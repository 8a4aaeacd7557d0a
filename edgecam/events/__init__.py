"""Event history: each event's evidence (best snapshot, thumbnail, clip with pre-roll) kept on disk
under ``<state_dir>/<camera>/events/``, indexed in SQLite, within a disk budget; read by the review page."""

"""MQTT publisher with Home Assistant discovery, spool and remote commands."""

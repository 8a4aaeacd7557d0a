"""Publishers: where frame updates, events and stats go (stdout, MQTT)."""

# Included by the top-level Makefile: install edgecam as a systemd service on this machine (a Pi).
.PHONY: install-service uninstall-service

## install-service: user edgecam (+video), /opt/edgecam/venv, the unit, /etc/edgecam/edgecam.toml (kept if present); enable + start
install-service:
	sudo systemd/install.sh

## uninstall-service: stop, disable, remove unit and venv (keeps config, state, user); PURGE=1 removes those too
uninstall-service:
	sudo systemd/uninstall.sh $(if $(PURGE),--purge)

#!/usr/bin/env bash
# Remove the edgecam service: sudo systemd/uninstall.sh [--purge] [--root DIR] [--no-systemctl] [--dry-run]
# Keeps /etc/edgecam, /var/lib/edgecam and the edgecam user unless --purge. See install.sh --help.
exec "$(dirname "${BASH_SOURCE[0]}")/install.sh" --uninstall "$@"

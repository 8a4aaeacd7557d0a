import sys

try:
    from edgecam.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C before the daemon's own handler is installed: no traceback
    code = 130
sys.exit(code)

"""Thin trigger entry points, one blueprint per area: decode the trigger, call shared/, settle."""

from shared.app_ports import log_startup_problems

# The worker imports the app when it starts: a misconfigured app says so in the log at once, not at the first file.
log_startup_problems()

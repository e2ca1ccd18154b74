#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    # An entry point: start this checkout's embedded PostgreSQL/Redis when no URL is
    # given (importing the settings never does).
    from config import localservices

    localservices.ensure_services()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

"""The test settings with DEBUG on: the outage tests run the platform both ways, since
Django answers errors differently (its technical pages) when DEBUG is on."""

from config.settings.test import *  # noqa: F403

DEBUG = True

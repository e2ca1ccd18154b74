"""Signals of the identity layer, for the layers above it (ADR 0009: lower layers
announce, higher ones register in ``AppConfig.ready``)."""

from django.dispatch import Signal

# A person created an organization through sign-up (not a test's or a command's
# organization_create): kwargs ``organization`` and ``owner``. Sent inside the sign-up
# transaction, in the public schema; a receiver that fails undoes the sign-up.
organization_signed_up = Signal()

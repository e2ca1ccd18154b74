"""The shared core: framework glue every domain app builds on (base API views,
errors, tenancy, crypto, lookups). It imports no domain app (see docs/architecture.md)."""

"""Caps on what one request may ask for, shared by the registry, the API and the CLI.

Kept apart from ``rights.registry`` so that the CLI can check its arguments without loading the engine."""

MAX_MATCH_LIMIT = 100
MAX_PAGE_LIMIT = 100
MAX_TITLE_LENGTH = 500
# Metadata is for titles, tags and links, not payloads; 16 KiB of JSON is plenty.
MAX_METADATA_BYTES = 16 * 1024
# Worker processes one command may start (each holds the index, ~150 MiB); a typo of extra digits
# overflowed the process pool with a traceback.
MAX_WORKERS = 1024
# A count argument that SQLite can store (the largest INTEGER is 2**63 - 1) and nobody exceeds.
MAX_COUNT = 1_000_000_000
# A takedown notice's rights holder: a legal name is a line, contact details a short postal block.
# The same caps on GET /v1/cases/{id}/notice's query, PUT /v1/profile's body and `rights profile set`.
MAX_HOLDER_NAME_LENGTH = 200
MAX_CONTACT_LENGTH = 500

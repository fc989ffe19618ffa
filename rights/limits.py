"""Caps on what one request may ask for, shared by the registry, the API and the CLI.

Kept apart from ``rights.registry`` so that the CLI can check its arguments without loading the engine."""

MAX_MATCH_LIMIT = 100
MAX_PAGE_LIMIT = 100
MAX_TITLE_LENGTH = 500
# Metadata is for titles, tags and links, not payloads; 16 KiB of JSON is plenty.
MAX_METADATA_BYTES = 16 * 1024

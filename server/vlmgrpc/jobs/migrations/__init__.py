"""Versioned SQL schema files, applied in order by the store that owns them."""

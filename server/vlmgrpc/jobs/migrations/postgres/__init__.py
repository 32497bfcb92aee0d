"""PostgreSQL schema versions (NNNN_name.sql), applied once each by jobs/pg_store.py."""

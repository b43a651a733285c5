"""The schema's versioned SQL migrations (``NNNN_name.sql``), shipped as package data so that an
installed server finds them without the source tree; ``collector.db.migrate`` applies them."""

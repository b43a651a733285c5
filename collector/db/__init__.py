"""PostgreSQL access: named queries, migrations, connection pools and the embedded server."""

"""The OTLP collector: receives OpenTelemetry log records, maps them to activity rows,
commits them to PostgreSQL in batches and publishes them to the live hub."""

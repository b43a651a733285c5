"""The Activity Console server: HTTP API, WebSocket live tail, retention, and the process that
runs the collector beside them."""

"""The demo, a client of Activity Console: realistic traffic from all five sources sent over OTLP
(``traffic``), and ``activity-console demo`` (``command``), which starts a server to send it to
when none is running. Of the server's modules only the CLI imports it, for that command."""

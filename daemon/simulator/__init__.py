"""The built-in KIS-protocol simulator (REST + websocket on loopback)."""

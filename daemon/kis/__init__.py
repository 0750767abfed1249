"""KIS Open API client: REST auth, websocket session, frame parser, swing quotes."""

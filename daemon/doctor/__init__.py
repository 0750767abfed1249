"""`observer-daemon doctor`: manifests and live environment checked against the environment table."""

"""observer-daemon: the headless KIS tick collector (import package ``observer.daemon``)."""

__version__ = "0.1.0"

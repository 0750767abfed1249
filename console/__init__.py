"""observer-console: the Textual operations console (import package ``observer.console``)."""

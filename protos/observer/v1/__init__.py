"""observer.v1: the gRPC contract between the daemon, the console and scripts (generated code)."""

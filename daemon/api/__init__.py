"""gRPC API: status, tail, control, health, reflection, metrics."""

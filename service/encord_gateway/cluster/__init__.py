"""Running as several replicas: clients of the shared engines, and the local cluster `make cluster` starts."""

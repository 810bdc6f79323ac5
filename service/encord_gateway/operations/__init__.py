"""The operation engine: executes the upstream mapping each RPC declares in the proto."""

"""The edges callers reach: the gRPC server, the REST transcoder, and the shared call chain."""

"""The edges callers reach: the gRPC server and the REST transcoder, both running calls through the pipeline."""

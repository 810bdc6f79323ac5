"""Talking to Encord: request signing, the pooled HTTP client and the error envelope."""

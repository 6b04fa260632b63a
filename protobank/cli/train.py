"""``protobank train``."""

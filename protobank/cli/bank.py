"""``protobank bank``."""

"""``protobank inspect`` (filled in by the geometry report)."""

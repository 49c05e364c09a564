"""Personal data protection: access log, export, erasure, retention."""

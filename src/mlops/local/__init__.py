"""The embedded stack: the whole stack on one machine (moto for AWS, the real handlers in-process)."""

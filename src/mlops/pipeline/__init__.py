"""The training pipeline's domain: one module per stage, each called by one thin Lambda handler."""

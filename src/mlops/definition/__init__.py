"""The stack's single description, read by the CDK app (``infra/``) and the embedded stack alike."""

"""Tests of the CDK app against the stack description."""

"""Batch scoring: a Step Functions Distributed Map fans an input out to scoring Lambda workers."""

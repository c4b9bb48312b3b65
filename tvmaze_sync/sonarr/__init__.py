"""The Sonarr side: the one gateway (pyarr), settings validation, the ownership ledger, the
Sonarr phase and its queues (retry, review, removals).
"""

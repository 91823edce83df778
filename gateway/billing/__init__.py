"""Billing: what a request cost (pricing.py), the ledger of every request (ledger.py, with its batched
writer and spill file), usage reports and the bill (reports.py), and shared-cost allocation to cost
centers (allocation.py)."""

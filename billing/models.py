"""Plans, subscriptions, the usage ledger and Stripe arrive with later issues.

No models yet: nothing here pretends to work before its issue lands.
"""

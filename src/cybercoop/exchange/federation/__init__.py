"""The federation's cryptography: node keys (`keys`) and sealed, signed envelopes and receipts (`envelope`).

Pure functions over joserfc: no database, no network, no settings, so the inbox, the outbox worker,
`node check` and the tests all share one implementation of the wire format in EXCHANGE.md.
"""

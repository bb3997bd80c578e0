"""The federation between nodes (docs/federation.md).

`keys` and `envelope` are its cryptography — node keys, sealed and signed envelopes, receipts, signed
documents — pure functions over joserfc: no database, no network, no settings, so the inbox, the outbox
worker, `node check` and the tests all share one implementation of the wire format. Around them: `node`
(this node's id and keys, its peers' keys), `wire` (a stored message ⇄ its wire form), `outbox` (the
sender's worker), `inbox` and `views` (the receiving endpoint), `client` (HTTP to a peer, `node check`),
and `directory` (the Secretariat's signed directory).
"""

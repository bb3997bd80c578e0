"""A test-only app: a message kind (`fedtest.`) for the federation's tests, so they need no workflow of a
domain above the exchange. Installed in the test process by tests/exchange/conftest.py, and in the peer
node processes by `tests.exchange.peer_settings`."""

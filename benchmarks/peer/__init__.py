"""Helpers for the peer comparison (benchmarks/peer_dreamerv3.py); run_peer.py runs inside the peer venv."""

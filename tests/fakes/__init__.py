"""Fakes of partner APIs: real HTTP servers on loopback that refuse what the vendors refuse."""

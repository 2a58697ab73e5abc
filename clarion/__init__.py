"""Clarion: a self-hosted user engagement service that speaks the Amazon Pinpoint API."""

__version__ = "0.1.0"

"""Paperboy: a self-hostable research-paper discovery service."""

__version__ = "0.1.0"

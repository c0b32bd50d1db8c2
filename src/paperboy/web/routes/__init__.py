"""Routers of the web app, one concern each: pages, accounts, community actions, JSON API, feeds."""

"""Optional jobs that add what other services know about papers (repository stars and activity)."""

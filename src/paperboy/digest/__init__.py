"""Email digests: subscriptions, composing, sending."""

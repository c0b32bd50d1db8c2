"""User accounts: passwords, sign-in sessions and personal API tokens."""

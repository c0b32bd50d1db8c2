"""What users do on the site: upvotes, comments and paper submissions."""

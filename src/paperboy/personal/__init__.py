"""The personal library (collections, notes, signals, import and export) and the recommender."""

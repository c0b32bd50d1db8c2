"""The daily feed: periods (day, week, month), daily lists and the trending ranking."""

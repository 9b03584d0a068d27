"""What agents remember, and how it is found again: records, embedders, recall."""

"""Data: pair tables, featurization cache, splits and collation."""

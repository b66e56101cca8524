"""zoo-molinteract: the MolInteract two-tower encoder (METHODS §8), its OGB featurizer and the towers alone."""

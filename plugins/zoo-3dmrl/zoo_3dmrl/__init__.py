"""zoo-3dmrl: 3DMRL pretraining for the zoo's 2D pair models (METHODS §7)."""

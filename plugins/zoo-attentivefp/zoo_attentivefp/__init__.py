"""zoo-attentivefp: AttentiveFP encoder (PyG/3DMRL semantics, METHODS §4)."""

"""zoo-mpnn: gather MPNN encoder and late_fusion pair model."""

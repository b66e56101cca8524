"""zoo-i2mole: the I2Mole pair model (METHODS §9)."""

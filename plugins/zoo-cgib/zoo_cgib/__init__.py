"""zoo-cgib: the CGIB and CGIB_cont pair models."""

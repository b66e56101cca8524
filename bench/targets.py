"""Published numbers the benchmarks are compared with (../shared/design/TARGETS.md §1, 3DMRL Table, RMSE mean (std)
over 5-fold CV x 3 repeats), and the original implementation's measured speed (issues #2/#3)."""

PAPER_RMSE = {
    # model: {dataset: (mean, std)}
    "mpnn": {"chromophore-absorption": (22.00, 0.30), "chromophore-emission": (26.34, 0.41),
             "chromophore-lifetime": (0.789, 0.021), "mnsol": (0.643, 0.005), "freesolv": (1.127, 0.110),
             "compsol": (0.420, 0.018), "abraham": (0.640, 0.008), "combisolv": (0.614, 0.031)},
    "attentivefp": {"chromophore-absorption": (22.86, 0.30), "chromophore-emission": (28.70, 0.23),
                    "chromophore-lifetime": (0.871, 0.010), "mnsol": (0.570, 0.021), "freesolv": (1.019, 0.070),
                    "compsol": (0.350, 0.008), "abraham": (0.426, 0.042), "combisolv": (0.471, 0.028)},
    "cigin": {"chromophore-absorption": (19.66, 0.69), "chromophore-emission": (25.84, 0.23),
              "chromophore-lifetime": (0.821, 0.017), "mnsol": (0.582, 0.022), "freesolv": (0.958, 0.116),
              "compsol": (0.369, 0.018), "abraham": (0.421, 0.018), "combisolv": (0.464, 0.002)},
    "cgib": {"chromophore-absorption": (18.37, 0.35), "chromophore-emission": (24.52, 0.25),
             "chromophore-lifetime": (0.808, 0.015), "mnsol": (0.562, 0.008), "freesolv": (0.876, 0.037),
             "compsol": (0.321, 0.002), "abraham": (0.404, 0.037), "combisolv": (0.448, 0.008)},
    "cgib_cont": {"chromophore-absorption": (18.59, 0.24), "chromophore-emission": (24.68, 0.49),
                  "chromophore-lifetime": (0.803, 0.019), "mnsol": (0.561, 0.012), "freesolv": (0.897, 0.098),
                  "compsol": (0.333, 0.005), "abraham": (0.404, 0.039), "combisolv": (0.452, 0.015)},
}

# Drug-drug interaction, transductive ROC-AUC in % (TARGETS.md §2: random 6:2:2 pair split, 1:1 negatives; CGIB via a
# secondary source, I2Mole's paper, averages over 8 runs; no std stated).
PAPER_DDI_AUROC = {
    "cgib": {"zhangddi": 94.43, "chchminer": 98.38},
    "i2mole": {"zhangddi": 95.12, "chchminer": 98.84},
}

# The same table's "+ 3DMRL" rows (TARGETS.md §1): the backbone pretrained with 3DMRL on the transductive label-free
# products (CombiSolv-Exp solutes x solvents, 20 %; chromophores x solvents, 1 %), then fine-tuned. The "without"
# numbers are PAPER_RMSE.
PAPER_3DMRL_RMSE = {
    "mpnn": {"chromophore-absorption": (19.96, 0.12), "chromophore-emission": (25.21, 0.31),
             "chromophore-lifetime": (0.753, 0.018), "mnsol": (0.609, 0.008), "freesolv": (1.068, 0.087),
             "compsol": (0.377, 0.020), "abraham": (0.550, 0.051), "combisolv": (0.599, 0.025)},
    "attentivefp": {"chromophore-absorption": (22.80, 0.61), "chromophore-emission": (28.54, 1.97),
                    "chromophore-lifetime": (0.784, 0.013), "mnsol": (0.562, 0.031), "freesolv": (0.901, 0.059),
                    "compsol": (0.271, 0.009), "abraham": (0.378, 0.027), "combisolv": (0.448, 0.011)},
    "cigin": {"chromophore-absorption": (18.00, 0.17), "chromophore-emission": (24.21, 0.09),
              "chromophore-lifetime": (0.729, 0.014), "mnsol": (0.528, 0.019), "freesolv": (0.839, 0.105),
              "compsol": (0.277, 0.006), "abraham": (0.371, 0.031), "combisolv": (0.435, 0.006)},
    "cgib": {"chromophore-absorption": (17.93, 0.35), "chromophore-emission": (23.92, 0.29),
             "chromophore-lifetime": (0.733, 0.009), "mnsol": (0.538, 0.020), "freesolv": (0.842, 0.078),
             "compsol": (0.274, 0.002), "abraham": (0.370, 0.027), "combisolv": (0.442, 0.015)},
    "cgib_cont": {"chromophore-absorption": (17.90, 0.17), "chromophore-emission": (23.94, 0.24),
                  "chromophore-lifetime": (0.720, 0.020), "mnsol": (0.524, 0.018), "freesolv": (0.863, 0.075),
                  "compsol": (0.284, 0.007), "abraham": (0.372, 0.021), "combisolv": (0.441, 0.022)},
}

# The original 3DMRL implementation training CIGIN on CompSol (explicit H, batch 256, T=3, 2 threads), measured on
# this machine class by the author (issues #2 and #3).
ORIGINAL_CIGIN_COMPSOL = {"pairs_per_s": 148.0, "seconds_per_epoch": 19.2, "peak_memory_gb": 1.9}

# QM9 test MAE (TARGETS.md §3; seed 003, Table 1), energies in meV, α in bohr³, R² in bohr², Cv in cal/(mol K):
# MolInteract, and the same table's stock SchNet with 8 layers. PAPER_QM9_BUDGET is what the MolInteract row cost.
PAPER_QM9_MAE = {
    "molinteract": {"homo": 20.60, "lumo": 17.88, "alpha": 0.047, "cv": 0.025, "r2": 0.136, "zpve": 1.327},
    "schnet": {"homo": 33.17, "lumo": 26.53, "alpha": 0.076, "cv": 0.031, "r2": 0.146, "zpve": 1.605},
}
PAPER_QM9_BUDGET = ("110,000 training molecules (110k / 10k / rest), 1000 epochs, d = 300, L = 8 (6 in pretraining; "
                    "about 9 M parameters), pretrained about 50 epochs on PCQM4Mv2 (about 3.4 M molecules)")

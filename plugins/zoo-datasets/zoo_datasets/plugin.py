"""Entry point of zoo-datasets (group ``zoo``): registers the dataset readers, lazily by name.

Nothing heavy is imported here; ``zoo_core.plugins.Registration.load`` imports ``zoo_datasets.readers``
only when a table is read.
"""

from zoo_core.hookspecs import hookimpl


@hookimpl
def zoo_register_datasets(register):
    # reader(entry, path) -> zoo_core.data.table.PairTable
    register("pair_csv", "zoo_datasets.readers:read_pair_csv_entry")   # one SMILES column per molecule
    register("ssid_csv", "zoo_datasets.readers:read_ssid_entry")       # SolvBERT "solvent.solute" column
    register("user_file", "zoo_datasets.readers:read_user_file_entry")  # a file the user supplies (MNSol)
    register("miracle_ddi", "zoo_datasets.ddi_readers:read_miracle_entry")     # DDI positives, MIRACLE CSVs
    register("zhang_matrix", "zoo_datasets.ddi_readers:read_zhang_matrix_entry")  # DDI positives, Zhang's matrix
    # reader(entry, path) -> zoo_core.data.table.MolTable
    register("molecule_csv", "zoo_datasets.molecule_readers:read_molecule_csv_entry")  # MoleculeNet-style CSV
    register("qm9pack", "zoo_datasets.qm9:read_qm9_entry")  # QM9 from the qm9pack distribution, with positions

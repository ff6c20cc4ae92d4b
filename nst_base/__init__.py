"""The bottom layer both halves build on: the exported-model folder format (manifest, model
store, checksums), atomic file writes, the one error type, version reporting. It imports
neither `export` (the one-time export pipeline) nor `nst_ort` (the run time)."""

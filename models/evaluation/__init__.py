"""How well a checkpoint answers and explains: scores on a photo folder, calibration, faithfulness of its maps,
and the accuracy gate a reduced precision must pass."""

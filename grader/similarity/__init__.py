"""The class similarity check: code (winnowing, copydetect) and behaviour (how trained models err,
their training curves) of every student's counted submission against every other's. Staff only."""

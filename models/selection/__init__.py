"""Where and how a checkpoint runs on this machine: what the hardware offers, torch's device and precision, and
which runtime serves (measured for ``CAMSERVE_BACKEND=auto``)."""

"""Target of the pipe-friction assignment: the Swamee-Jain explicit approximation
of the Colebrook equation for the Darcy friction factor of turbulent pipe flow."""

import numpy as np


def friction_factor(Re, eps_D):
    """Darcy friction factor f for Reynolds number Re and relative roughness eps_D (arrays)."""
    Re = np.asarray(Re, dtype=np.float64)
    eps_D = np.asarray(eps_D, dtype=np.float64)
    return 0.25 / np.log10(eps_D / 3.7 + 5.74 / Re**0.9) ** 2

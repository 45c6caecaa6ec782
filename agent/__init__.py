"""The node agent: registration, convergence loop, slice supervisor (DESIGN §5)."""

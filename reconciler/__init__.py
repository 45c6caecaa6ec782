"""Controllers that reconcile a pipeline repository into Barn (DESIGN §8)."""

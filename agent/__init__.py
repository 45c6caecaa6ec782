"""The node agent: registration, convergence loop, slice supervisor (DESIGN §5).

Public API: :class:`Agent` (``Agent(AgentConfig(...)).start()`` / ``.stop()``),
:class:`AgentConfig`, :class:`Checkouts` (a repository's commits on disk) and
:class:`PipelineWorker` (one assigned pipeline converging on its desired state).
"""

from agent.agent import Agent
from agent.checkout import Checkout, CheckoutError, Checkouts
from agent.config import AgentConfig
from agent.pipeline import Desired, PipelineWorker

__all__ = [
    "Agent",
    "AgentConfig",
    "Checkout",
    "CheckoutError",
    "Checkouts",
    "Desired",
    "PipelineWorker",
]

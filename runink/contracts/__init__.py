"""Data contracts (ODCS v3): the model and its loader."""

from runink.contracts.load import build_contract, contract_from_data
from runink.contracts.model import Contract, ContractProperty, SchemaObject

__all__ = ["Contract", "ContractProperty", "SchemaObject", "build_contract", "contract_from_data"]

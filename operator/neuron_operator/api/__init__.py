"""The NeuronDeployment API types (pure pydantic; no I/O)."""

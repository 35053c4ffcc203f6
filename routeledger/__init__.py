"""routeledger's shared kernel: CLI, configuration, the attempt contract, pricing, the store."""

__version__ = "0.1.0"

"""egressguard: watch what a CI step sends over the network, and stop it when it strays."""

__version__ = "0.1.0"

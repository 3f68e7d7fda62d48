"""mr-failover: move a multi-region AWS application between regions, safely."""

__version__ = "0.1.0"

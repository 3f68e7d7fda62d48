"""Allow ``python -m mr_failover``."""

from mr_failover.cli import main

main()

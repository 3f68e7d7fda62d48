"""``python -m mr_failover.sandbox``: serve a sandbox in the foreground until SIGTERM.

``mr-failover sandbox up`` starts it in the background (:func:`mr_failover.sandbox.client.launch`).
"""

from mr_failover.sandbox.core import main

if __name__ == "__main__":
    main()

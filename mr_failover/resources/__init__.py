"""Read-only observation of the AWS resources a topology names, one module per service.

Each module turns API answers into small frozen dataclasses ("findings") and holds no
policy: whether a finding blocks a takeover is decided by :mod:`mr_failover.status`.
Functions take a boto3 client (from :class:`mr_failover.aws.ClientFactory`) so that the
mutation steps can reuse them to check state before and after they act. Every call goes
through :func:`mr_failover.aws.call`, so a failure is a tool error naming region and call.
"""

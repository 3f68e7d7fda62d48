"""Tell the team: a run's start, its failure, its end (topology ``notifications``).

Two channels, either or both: an SNS topic (``Publish`` in the topic's region, with a
``Subject`` and the text as the message, "Publish", Amazon SNS API Reference,
https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: a subject is at most 100
characters, the message at most 256 KB) and a chat webhook (a JSON POST ``{"text": ...}``,
the shape Slack's incoming webhooks and their look-alikes take).

A notification must never block or fail an operation: each post runs on a daemon thread
with its own short timeout, the caller waits at most :data:`DEADLINE` seconds for all of
them together, and a post that failed or did not finish in time is a warning through
``warn`` (the run goes on, its outcome unchanged).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mr_failover.aws import call
from mr_failover.errors import MrFailoverError

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import Notifications

# Seconds an operation waits, at most, for one notification to be posted everywhere.
DEADLINE = 3.0
SUBJECT_MAX = 100  # SNS Publish: "Subject ... must be less than 100 characters"
TEXT_MAX = 4000  # well under SNS's 256 KB and chat services' message limits


class Notifier:
    """Posts one line of text to the topology's SNS topic and/or webhook."""

    def __init__(
        self,
        where: Notifications,
        factory: ClientSource,
        warn: Callable[[str], None],
        *,
        deadline: float = DEADLINE,
    ) -> None:
        self.where = where
        self.factory = factory
        self.warn = warn
        self.deadline = deadline

    def post(self, subject: str, text: str) -> None:
        """Send ``text`` everywhere; return within the deadline, whatever happens."""
        text = text[:TEXT_MAX]
        sends: list[tuple[str, Callable[[], None]]] = []
        if self.where.sns_topic_arn:
            sends.append((f"SNS {self.where.sns_topic_arn}", lambda: self._sns(subject, text)))
        if self.where.webhook_url:
            sends.append(("the webhook", lambda: self._webhook(subject, text)))
        failures: dict[str, str] = {}

        def run(name: str, send: Callable[[], None]) -> None:
            try:
                send()
            except Exception as exc:  # a notification must never fail the run
                failures[name] = str(exc) or type(exc).__name__

        threads = [
            threading.Thread(target=run, args=item, daemon=True, name="mr-failover-notify")
            for item in sends
        ]
        for t in threads:
            t.start()
        # One deadline for all: the threads run side by side.
        for t in threads:
            t.join(max(0.0, self.deadline))
        for (name, _), t in zip(sends, threads, strict=True):
            if t.is_alive():
                self.warn(f"warning: notification to {name} not sent within {self.deadline:g} s")
            elif name in failures:
                self.warn(f"warning: notification to {name} failed: {failures[name]}")

    def _sns(self, subject: str, text: str) -> None:
        arn = self.where.sns_topic_arn
        assert arn is not None
        region = arn.split(":")[3]
        client = self.factory.client("sns", region)
        try:
            call(client, "publish", TopicArn=arn, Subject=_subject(subject), Message=text)
        except MrFailoverError as exc:
            raise RuntimeError(str(exc)) from None

    def _webhook(self, subject: str, text: str) -> None:
        url = self.where.webhook_url
        assert url is not None
        body = json.dumps({"text": f"{subject}\n{text}"}).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.deadline) as answer:
                status = getattr(answer, "status", 200)
        except (TimeoutError, urllib.error.URLError) as exc:
            if isinstance(exc, TimeoutError) or isinstance(exc.reason, TimeoutError):
                # Said the same way whichever ends first: this timeout or post()'s join.
                raise RuntimeError(f"not answered within {self.deadline:g} s") from None
            raise
        if not 200 <= status < 300:
            raise RuntimeError(f"HTTP {status}")


def _subject(text: str) -> str:
    """An SNS subject: one line of printable ASCII, under the length limit."""
    line = " ".join(text.split())
    ascii_only = line.encode("ascii", "replace").decode()
    return ascii_only[: SUBJECT_MAX - 1]


def describe(fields: dict[str, Any]) -> str:
    """``key: value`` lines of the fields that have a value."""
    return "\n".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, ""))

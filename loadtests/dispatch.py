"""How a Locust master spreads pollbench's users over its workers: one class at a time, senders first.

Every Locust process needs its own sender, because a sender posts only into the orders of the receivers
running in its process. Locust's dispatcher hands users to the workers round-robin, but it interleaves
fixed-count classes by weight (Kullback-Leibler order: with 2 senders and 10 receivers it yields five
receivers, a sender, five receivers, a sender), so on 2 workers both senders can land on one worker and the
other worker's receivers never get a message. Dispatching the fixed-count classes one after another,
``SenderUser`` first, gives the first W users, the senders, to W distinct workers and then deals the
receivers out evenly.
"""

from __future__ import annotations

from collections.abc import Iterator

from locust.dispatch import UsersDispatcher

__all__ = ["SendersFirstDispatcher"]


class SendersFirstDispatcher(UsersDispatcher):
    """Locust's dispatcher with fixed-count users dispatched class by class, senders first."""

    first = "SenderUser"

    def _user_gen(self) -> Iterator[str | None]:
        # Same contract as Locust's own _user_gen (fixed-count users before weighted ones, re-checked
        # whenever users were removed); only the order among the fixed-count classes differs.
        weighted = super()._user_gen()
        while True:
            if self._try_dispatch_fixed:
                self._try_dispatch_fixed = False
                # Locust keeps the classes sorted by name; a stable sort moves the senders to the front.
                for cls in sorted(self._user_classes, key=lambda c: c.__name__ != self.first):
                    if cls.fixed_count:
                        missing = cls.fixed_count - self._get_user_current_count(cls.__name__)
                        for _ in range(max(0, missing)):
                            yield cls.__name__
            else:
                # Locust's generator, entered with nothing fixed missing, yields weighted users only.
                yield next(weighted)

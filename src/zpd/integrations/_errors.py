"""The integration layer's exception: a host was configured or called in a way zpd cannot serve.

It subclasses :class:`zpd.core.errors.ZpdError` (a ``ValueError``), so ``except ZpdError``
catches host-side mistakes too. This module holds only the exception type.
"""

from __future__ import annotations

from zpd.core.errors import ZpdError


class IntegrationError(ZpdError):
    """A host (TRL, verl, Ray, PyTorch) was configured or called in a way zpd cannot serve.

    The message says what is wrong and what to do.
    """

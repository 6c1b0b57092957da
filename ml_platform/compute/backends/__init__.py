"""Where steps run: one module per backend, each with one ``Backend`` object, registered here.

Adding a backend is one module implementing ``base.Backend`` (launch through its step handler,
health, size ladder, price, infrastructure failures, sized tags, executor config section), one
line in ``BACKENDS``, and its section in the price sheet. Nothing else names a backend: the
router, automatic memory, sizing and pricing ask the profile's backend.
"""

from ml_platform.compute.backends.base import Backend, SizeLadder
from ml_platform.compute.backends.kubernetes import KUBERNETES
from ml_platform.compute.backends.local import LOCAL
from ml_platform.compute.backends.sagemaker import SAGEMAKER

__all__ = ["BACKENDS", "Backend", "SizeLadder", "backend_of", "get_backend"]

# Name -> backend. Mutable so a test (or a deployment's own module) can register one before definitions load.
BACKENDS: dict[str, Backend] = {b.name: b for b in (KUBERNETES, SAGEMAKER, LOCAL)}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown compute backend '{name}' (known: {', '.join(BACKENDS)})") from None


def backend_of(profile) -> Backend:
    """The backend a compute profile names."""
    return get_backend(profile.backend)

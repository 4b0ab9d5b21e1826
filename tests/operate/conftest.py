"""The API tests' real gateway in front of fake backends serves these tests too."""

from tests.api.conftest import gateway_factory

__all__ = ["gateway_factory"]

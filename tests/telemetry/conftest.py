from __future__ import annotations

import pytest

from .receivers import AppInsightsReceiver, OTLPReceiver

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("azure.monitor.opentelemetry.exporter")
pytest.importorskip("prometheus_client")


@pytest.fixture
def appinsights():
    receiver = AppInsightsReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def otlp():
    receiver = OTLPReceiver()
    yield receiver
    receiver.close()

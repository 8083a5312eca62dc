"""``azureml.monitoring.ModelDataCollector``: collected records go to scorehost's model-data
sink (JSON Lines under ``SCOREHOST_DATA_COLLECTION_DIR`` by default; see scorehost.datacollection)."""
from __future__ import annotations

import uuid
from typing import Any

from .. import datacollection


class ModelDataCollector:
    def __init__(self, model_name: str, designation: str = "default", identifier: str = "default",
                 feature_names: list[str] | None = None, **kwargs: Any):
        self.model_name = model_name
        self.designation = designation
        self.identifier = identifier
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.model_version = kwargs.get("model_version")

    def collect(self, input_data: Any, user_correlation_id: str | None = None) -> dict:
        """Record ``input_data``; returns correlation data to pass to add_correlations()."""
        correlation = {"request_id": datacollection.current_request_id(),
                       "correlation_id": user_correlation_id or str(uuid.uuid4())}
        datacollection.emit({
            "model_name": self.model_name,
            "model_version": self.model_version,
            "designation": self.designation,
            "identifier": self.identifier,
            "feature_names": self.feature_names,
            "correlation": correlation,
            "data": input_data,
        })
        return correlation

    def add_correlations(self, input_data: Any, correlations: dict) -> Any:
        """azureml's helper to attach correlation data; the data is returned unchanged."""
        return input_data

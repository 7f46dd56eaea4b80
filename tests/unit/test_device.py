"""Where model encoders run (lexir.encoders.device, the `device` runtime option, `--device`, Ray actors' devices).

Without a GPU (this machine, CI) the CUDA path itself cannot run: these tests pin that cpu and auto give exactly the
default vectors, that a GPU the machine lacks is a one-line error (from the Python API and the CLI, before anything
is written), and how a Ray actor picks its device (without Ray). The `needs_gpu` tests at the end compare CUDA
vectors with the CPU's where torch sees a GPU; they skip elsewhere, and had not been run when they were written.
"""

from __future__ import annotations

import numpy as np
import pytest

from lexir.corpus import Corpus
from lexir.distributed.encoding import ChunkEncoderActor, RayEncoding, actor_device
from lexir.encoders import create_encoder
from lexir.encoders.device import check_device, model_device, resolve_device
from lexir.encoders.registry import create_dense_encoder, encoder_from_spec
from lexir.encoders.splade import SpladeEncoder
from lexir.errors import LexirError
from lexir.index import build_index
from lexir.index.reader import InvertedIndex
from tests.helpers import assert_one_line_error, lexir, write_jsonl
from tests.texts import DOCUMENTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TEXTS = [text for _, _, text in DOCUMENTS]


@pytest.fixture(scope="module")
def no_gpu():
    """The error paths need a machine without CUDA (this one, CI's)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA GPU here: the missing-GPU errors cannot be provoked")


def assert_same_rows(a, b) -> None:
    assert a.shape == b.shape and (a != b).nnz == 0


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "mps", "CPU", "", " cpu"])
def test_unknown_device_names_are_refused_when_the_encoder_is_made(name):
    with pytest.raises(LexirError, match="unknown device") as raised:
        SpladeEncoder("splade-tiny", device=name)
    assert "\n" not in str(raised.value)
    with pytest.raises(LexirError, match="unknown device"):
        create_dense_encoder("minilm", device=name)


def test_auto_is_the_gpu_where_torch_sees_one_else_the_cpu():
    import torch

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert check_device("cuda:3") == "cuda:3"  # the spelling alone; whether it exists is asked when a model loads


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:1"])
def test_a_gpu_this_machine_lacks_is_one_line(name):
    with pytest.raises(LexirError, match="no CUDA GPU") as raised:
        resolve_device(name)
    assert "\n" not in str(raised.value)


def test_splade_on_cpu_or_auto_gives_the_default_vectors_and_the_same_spec(splade_tiny):
    for device in ("cpu", "auto"):
        encoder = create_encoder("splade-tiny", batch_size=8, device=device)
        assert encoder.device == device and encoder.spec == splade_tiny.spec  # a runtime option: not recorded
        assert_same_rows(encoder.encode_documents(TEXTS), splade_tiny.encode_documents(TEXTS))
        assert_same_rows(encoder.encode_queries(TEXTS[:3]), splade_tiny.encode_queries(TEXTS[:3]))
    assert model_device(encoder.model).type == resolve_device("auto").type
    assert encoder_from_spec(splade_tiny.spec, device="cpu").device == "cpu"  # from an index's spec, as threads


def test_bf16_on_cpu_is_unchanged_by_naming_the_device(splade_tiny):
    bf16 = SpladeEncoder("splade-tiny", precision="bf16", loaded_model=splade_tiny.model)
    named = SpladeEncoder("splade-tiny", precision="bf16", loaded_model=splade_tiny.model, device="cpu")
    assert_same_rows(named.encode_documents(TEXTS), bf16.encode_documents(TEXTS))


def test_dense_on_cpu_or_auto_gives_the_default_vectors(minilm):
    expected = minilm.encode(TEXTS)
    for device in ("cpu", "auto"):
        encoder = create_dense_encoder("minilm", batch_size=4, device=device)
        assert encoder.spec == minilm.spec
        np.testing.assert_array_equal(encoder.encode(TEXTS), expected)


def test_echo_and_promptreps_on_auto_give_the_default_vectors(llm_models):
    folder = str(llm_models["mistral"])
    echo, echo_auto = (create_encoder(folder, batch_size=3, **extra) for extra in ({}, {"device": "auto"}))
    assert_same_rows(echo_auto.encode_documents(TEXTS[:4]), echo.encode_documents(TEXTS[:4]))
    sparse, sparse_auto = (create_encoder(f"promptreps:{folder}", batch_size=3, **extra)
                           for extra in ({}, {"device": "auto"}))
    assert sparse_auto.shared is not sparse.shared  # one shared model per device
    assert_same_rows(sparse_auto.encode_documents(TEXTS[:4]), sparse.encode_documents(TEXTS[:4]))
    assert sparse_auto.dense_side().device == "auto"
    np.testing.assert_array_equal(sparse_auto.dense_side().encode_documents(TEXTS[:4]),
                                  sparse.dense_side().encode_documents(TEXTS[:4]))


@pytest.mark.usefixtures("no_gpu")
def test_cuda_without_a_gpu_fails_in_one_line_when_the_model_loads(llm_models, tmp_path):
    encoders = [create_encoder("splade-tiny", device="cuda"), create_encoder("splade-tiny-if", device="cuda"),
                create_dense_encoder("minilm", device="cuda"), create_encoder(str(llm_models["llama"]), device="cuda"),
                create_encoder(f"promptreps:{llm_models['llama']}", device="cuda:0")]
    for encoder in encoders:
        with pytest.raises(LexirError, match="no CUDA GPU") as raised:
            encoder.encode_documents(["green tea"])
        assert "\n" not in str(raised.value)
    with pytest.raises(LexirError, match="no CUDA GPU"):  # a build through the Python API leaves nothing behind
        build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), encoders[0], tmp_path / "index", progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["docs.jsonl"]


def test_an_inference_free_encoder_places_its_document_model():
    encoder = create_encoder("splade-tiny-if", device="auto")
    assert encoder.device == encoder.documents.device == "auto"
    encoder.device = "cpu"
    assert encoder.documents.device == "cpu"
    with pytest.raises(LexirError, match="unknown device"):
        encoder.device = "gpu"


@pytest.mark.parametrize(("gpus", "device", "expected"), [
    (0, None, None),  # no GPU reserved: the encoder's own device (cpu by default)
    (1, None, "cuda"),  # GPUs reserved: Ray makes them the actor's visible CUDA devices
    (0.25, None, "cuda"),  # a fraction of one GPU is still that GPU
    (1, "cpu", "cpu"),  # --device says otherwise
    (0, "cuda:1", "cuda:1"),
    (2, "auto", "auto"),
])
def test_the_ray_actor_device(gpus, device, expected):
    assert actor_device(gpus, device) == expected
    assert RayEncoding("local", cpus_per_worker=2.5, gpus_per_worker=gpus, device=device).actor_args == (2, expected)


def test_ray_encoding_refuses_an_unknown_device():
    with pytest.raises(LexirError, match="unknown device"):
        RayEncoding("local", gpus_per_worker=1, device="gpu")


def test_an_actor_places_a_model_encoder_and_leaves_bm25_alone(splade_tiny):
    import torch

    threads = torch.get_num_threads()
    placed = ChunkEncoderActor(SpladeEncoder("splade-tiny", batch_size=8), threads, "auto").encoder
    assert placed.device == "auto"
    assert_same_rows(placed.encode_documents(TEXTS), splade_tiny.encode_documents(TEXTS))
    bm25 = create_encoder("bm25")
    bm25.fit(TEXTS)
    actor = ChunkEncoderActor(bm25, threads, "cuda")  # BM25 runs no model: nothing to place
    assert not hasattr(actor.encoder, "device") and actor.encode(TEXTS[:2]).shape[0] == 2
    unplaced = ChunkEncoderActor(SpladeEncoder("splade-tiny"), threads, None).encoder
    assert unplaced.device == "cpu"


@pytest.mark.usefixtures("no_gpu")
def test_cli_device_errors_are_one_line_and_write_nothing(tmp_path):
    source = write_jsonl(tmp_path / "docs.jsonl")
    out = tmp_path / "index"
    for device, fragment in (("cuda", "no CUDA GPU"), ("gpu", "unknown device")):
        failed = lexir("index", "build", source, "--out", out, "--encoder", "splade-tiny", "--device", device,
                       "--quiet", check=False)
        assert_one_line_error(failed, fragment)
        assert not out.exists()
    failed = lexir("index", "build", source, "--out", out, "--encoder", "bm25", "--device", "cpu", check=False)
    assert_one_line_error(failed, "does not take device")
    failed = lexir("index", "build", source, "--out", out, "--encoder", "bm25", "--gpus-per-worker", "1", check=False)
    assert_one_line_error(failed, "--gpus-per-worker", "--ray")
    assert not out.exists()
    lexir("index", "build", source, "--out", out, "--encoder", "bm25", "--quiet")
    before = sorted(path.name for path in out.iterdir())
    failed = lexir("index", "add-dense", out, "--encoder", "minilm", "--device", "cuda", "--quiet", check=False)
    assert_one_line_error(failed, "no CUDA GPU")
    assert sorted(path.name for path in out.iterdir()) == before


def test_cli_build_on_cpu_equals_the_default_build(tmp_path):
    source = write_jsonl(tmp_path / "docs.jsonl")
    for name, extra in (("default", ()), ("auto", ("--device", "auto"))):
        lexir("index", "build", source, "--out", tmp_path / name, "--encoder", "splade-tiny", "--quiet", *extra)
    default, auto = (InvertedIndex(tmp_path / name) for name in ("default", "auto"))
    assert auto.manifest.encoder == default.manifest.encoder  # the device is not recorded
    for array in ("offsets", "doc_blocks", "impacts", "doc_nnz"):
        np.testing.assert_array_equal(getattr(auto, array), getattr(default, array))
    assert default.num_docs == len(DOCUMENTS) and len(default.impacts)


def hits_of(searcher, queries):
    return [[(hit.id, hit.score) for hit in searcher.search(query, k=5).hits] for query in queries]


def test_search_places_the_query_encoders_and_bm25_ignores_the_device(dense_index, splade_tiny, tmp_path):
    from lexir.api.service import SearchService
    from lexir.index.live import LiveIndex
    from lexir.search import SearchOptions, open_search

    queries = TEXTS[:3]
    hybrid = SearchOptions(mode="hybrid")
    default, placed = open_search(dense_index, hybrid), open_search(dense_index, hybrid, device="auto")
    assert hits_of(placed, queries) == hits_of(default, queries)  # auto is the CPU here: the same hits
    assert placed.retrievers["dense"].encoder.device == "auto"
    assert not hasattr(placed.retrievers["sparse"].encoder, "device")  # BM25 runs no model: nothing to place
    splade = tmp_path / "splade"
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), splade_tiny, splade, progress=False)
    default, placed = open_search(splade), open_search(splade, device="cpu")
    assert placed.retrievers["sparse"].encoder.device == "cpu"
    assert hits_of(placed, queries) == hits_of(default, queries)
    assert LiveIndex(splade, device="auto").encoder.device == "auto"  # documents added later encode there too
    service = SearchService(splade, device="auto")
    assert service.live.device == "auto"
    assert service.searcher(SearchOptions()).retrievers["sparse"].encoder.device == "auto"


@pytest.mark.usefixtures("no_gpu")
def test_search_eval_and_serve_refuse_a_missing_gpu_in_one_line(dense_index, tmp_path, monkeypatch):
    from tests.helpers import write_beir_folder

    failed = lexir("search", dense_index, "a query", "--mode", "hybrid", "--device", "cuda", check=False)
    assert_one_line_error(failed, "no CUDA GPU")
    failed = lexir("serve", dense_index, "--device", "cuda:1", check=False)
    assert_one_line_error(failed, "no CUDA GPU")
    folder = write_beir_folder(tmp_path / "beir", {"test": {"q1": (TEXTS[0], {DOCUMENTS[0][0]: 1})}})
    monkeypatch.setenv("LEXIR_CACHE", str(tmp_path / "cache"))
    failed = lexir("eval", folder, "--encoder", "splade-tiny", "--device", "cuda", "--no-progress", check=False)
    assert_one_line_error(failed, "no CUDA GPU")
    assert not (tmp_path / "cache").exists()  # refused before any index was built
    failed = lexir("eval", folder, "--index", dense_index, "--mode", "dense", "--device", "gpu", check=False)
    assert_one_line_error(failed, "unknown device")
    for name, extra in (("default", ()), ("cpu", ("--device", "cpu"))):
        lexir("eval", folder, "--index", dense_index, "--mode", "hybrid", "--no-progress", "--out", tmp_path / name,
              *extra)
    assert (tmp_path / "cpu" / "run.trec").read_bytes() == (tmp_path / "default" / "run.trec").read_bytes()


@pytest.fixture(scope="module")
def needs_gpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: the encoders' CUDA path cannot run")


def assert_close_rows(gpu, cpu, atol: float) -> None:
    np.testing.assert_allclose(gpu.toarray(), cpu.toarray(), rtol=0, atol=atol)


@pytest.mark.usefixtures("needs_gpu")
def test_on_a_gpu_vectors_equal_the_cpus_up_to_rounding_and_tf32_stays_off(splade_tiny, minilm, llm_models):
    import torch

    assert resolve_device("auto").type == "cuda"
    splade = create_encoder("splade-tiny", batch_size=8, device="cuda")
    assert model_device(splade.model).type == "cuda"
    assert_close_rows(splade.encode_documents(TEXTS), splade_tiny.encode_documents(TEXTS), 1e-3)
    assert_close_rows(splade.encode_queries(TEXTS[:3]), splade_tiny.encode_queries(TEXTS[:3]), 1e-3)
    bf16 = create_encoder("splade-tiny", batch_size=8, precision="bf16", device="cuda").encode_documents(TEXTS)
    assert bf16.shape == (len(TEXTS), len(splade_tiny.vocabulary)) and bf16.nnz > 0  # autocast on cuda ran
    np.testing.assert_allclose(create_dense_encoder("minilm", batch_size=4, device="cuda:0").encode(TEXTS),
                               minilm.encode(TEXTS), rtol=0, atol=1e-4)
    folder = str(llm_models["mistral"])
    echo_gpu, echo_cpu = (create_encoder(folder, batch_size=3, device=device) for device in ("cuda", "cpu"))
    assert_close_rows(echo_gpu.encode_documents(TEXTS[:4]), echo_cpu.encode_documents(TEXTS[:4]), 1e-3)
    sides = [create_encoder(f"promptreps:{folder}", batch_size=3, device=device) for device in ("cuda", "cpu")]
    assert_close_rows(*(side.encode_documents(TEXTS[:4]) for side in sides), 1e-3)
    np.testing.assert_allclose(*(side.dense_side().encode_documents(TEXTS[:4]) for side in sides), rtol=0, atol=1e-4)
    assert torch.get_float32_matmul_precision() == "highest"  # encoding never switched TF32 on

import pytest

from credo.retrieval.synthetic import make_synthetic
from credo.retrieval.tiny import build_tiny_encoder


@pytest.fixture(scope="session")
def small_synth():
    return make_synthetic(n_docs=150, n_topics=6, n_questions=150, seed=0)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, small_synth):
    texts = [" ".join(d.units()) for d in small_synth.corpus.values()]
    texts += [q.text for q in small_synth.queries.values()] + ["background method result"]
    return str(build_tiny_encoder(tmp_path_factory.mktemp("tiny"), texts, hidden=32, seed=0))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one intra-op thread (and do not fight over shared cores); restored afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

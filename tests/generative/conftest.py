from __future__ import annotations

import pytest
import torch

from tests.generative.helpers import write_prepared_celeba


@pytest.fixture(autouse=True)
def _few_threads():
    """Tiny models gain nothing from threads, and spinning threads crawl on a shared 2-core box."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def synthetic_celeba(tmp_path_factory):
    return write_prepared_celeba(tmp_path_factory.mktemp("celeba_prepared"))

# Source: dask/dask-ml dask_ml/feature_extraction/text.py @ 8e2fbb28: library code that
# calls get_client() on the client side (the module calls it itself) and waits (clean).
import distributed
from dask.delayed import Delayed
from distributed import get_client, wait


def transform(self, raw_documents):
    vocabulary = self.vocabulary_
    if isinstance(vocabulary, dict):
        try:
            client = get_client()
        except ValueError:
            vocabulary_for_transform = dask.delayed(vocabulary)
        else:
            (vocabulary_for_transform,) = client.scatter((vocabulary,), broadcast=True)
    else:
        vocabulary_for_transform = vocabulary
    n_features = vocabulary_length(vocabulary_for_transform)
    return n_features


def vocabulary_length(vocabulary):
    if isinstance(vocabulary, dict):
        return len(vocabulary)
    elif isinstance(vocabulary, Delayed):
        try:
            return len(vocabulary)
        except TypeError:
            return len(vocabulary.compute())
    elif isinstance(vocabulary, distributed.Future):
        client = get_client()
        future = client.submit(len, vocabulary)
        wait(future)
        result = future.result()
        return result
    else:
        raise ValueError(f"Unknown vocabulary type {type(vocabulary)}.")

# Source: dask/dask-examples machine-learning/torch-prediction.ipynb @ 03cfcca, cells 13-17:
# a model wrapped once with delayed and called inside each prediction task (clean).
import dask
import torch


@dask.delayed
def predict(batch, model):
    with torch.no_grad():
        out = model(batch)
        _, predicted = torch.max(out, 1)
        predicted = predicted.numpy()
    return predicted


dmodel = dask.delayed(model.cpu())  # ensuring model is on the CPU
predictions = [predict(batch, dmodel) for batch in batches]
predictions = dask.compute(*predictions)

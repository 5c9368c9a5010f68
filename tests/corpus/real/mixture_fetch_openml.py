# Modelled on: https://github.com/scikit-learn/scikit-learn/issues/12227 (fetch_openml() run without network
#   gives a URLError) and https://github.com/pytorch/tutorials/issues/249 (a dataset download=True where the
#   network is restricted: "URLError: <urlopen error [Errno -2] Name or service not known>")
# Source: a script that starts by fetching its data set from OpenML with scikit-learn.
# What differs: a small classifier for the assignment's five clusters, whose data the student tries to
#   fetch instead of load_training_data().
# Mistake the maintainers name: no network there (use the platform's own data interface).
# corpus: assignment=gaussian-mixture expect=verdict:runtime_error cause=no_network
import torch
from torch import nn
from sklearn.datasets import fetch_openml

data = fetch_openml("gaussian-mixture-2d", version=1, as_frame=False, parser="liac-arff")
X = torch.tensor(data.data, dtype=torch.float32)
y = torch.tensor(data.target.astype(int))
model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 5))

# Modelled on: https://discuss.pytorch.org/t/96648 (reply #5 by ptrblck, as heat_standard_scaler.py)
# Source: scale inputs and target outside the model, train on scaled values, un-scale the predictions.
# What differs: logarithms of Re, Pr and Nu before the StandardScalers (the quantities span decades), and
#   the grader's supported way to keep this style: submit(model, inputs=..., outputs=...).
# Mistake: none; the scaling travels with the model through submit(), so the grader applies it too.
# corpus: assignment=heat-transfer expect=pass
import numpy as np
import torch
from torch import nn
from sklearn.preprocessing import StandardScaler
from gradekit import submit

rng = np.random.default_rng(0)
Re = 10 ** rng.uniform(4, 6, 2000)
Pr = 10 ** rng.uniform(np.log10(0.7), np.log10(160), 2000)
X = np.column_stack([Re, Pr])
y = (0.023 * Re**0.8 * Pr**0.4).reshape(-1, 1)

x_scaler = StandardScaler().fit(np.log(X))
y_scaler = StandardScaler().fit(np.log(y))
X_s = torch.tensor(x_scaler.transform(np.log(X)), dtype=torch.float32)
y_s = torch.tensor(y_scaler.transform(np.log(y)), dtype=torch.float32)

model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.MSELoss()
for epoch in range(1500):
    optimizer.zero_grad()
    loss = criterion(model(X_s), y_s)
    loss.backward()
    optimizer.step()

submit(
    model,
    inputs=lambda raw: x_scaler.transform(np.log(raw)),
    outputs=lambda out: np.exp(y_scaler.inverse_transform(out)),
)
